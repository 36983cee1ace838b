"""Reading what `/metrics` exposes: samples by name and labels, parsed by
prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    text: str

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        found = []
        for family in text_string_to_metric_families(self.text):
            for sample in family.samples:
                if sample.name == name:
                    found.append((dict(sample.labels), sample.value))
        return found

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 if none)."""
        wanted = dict(labels or {})
        return sum(
            value
            for found, value in self.samples(name)
            if all(found.get(k) == v for k, v in wanted.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {found[label] for found, _ in self.samples(name) if label in found}
