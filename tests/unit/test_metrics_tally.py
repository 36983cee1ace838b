"""The request path's tallies: nothing reaches the instruments until a flush, then exactly
what was observed; unbatched, every observation at once."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram

from users_service.adapters.metrics.tally import GaugeTally, HistogramTally


def _count(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name, {"k": "x"})
    assert value is not None
    return value


@pytest.mark.parametrize("batched", [True, False])
def test_histogram_tally(batched: bool) -> None:
    registry = CollectorRegistry()
    child = Histogram("d", "d", ("k",), buckets=(0.1, 1.0), registry=registry).labels("x")
    tally = HistogramTally(child, (0.1, 1.0), batched)
    for seconds in (0.05, 0.1, 0.5, 3.0):
        tally.observe(seconds)
    assert _count(registry, "d_count") == (0 if batched else 4)
    tally.flush()
    assert _count(registry, "d_count") == 4
    assert registry.get_sample_value("d_bucket", {"k": "x", "le": "0.1"}) == 2
    assert registry.get_sample_value("d_bucket", {"k": "x", "le": "1.0"}) == 3
    assert _count(registry, "d_sum") == pytest.approx(3.65)
    tally.observe(0.2)
    tally.flush()
    assert _count(registry, "d_count") == 5  # added to, never reset


@pytest.mark.parametrize("batched", [True, False])
def test_gauge_tally(batched: bool) -> None:
    registry = CollectorRegistry()
    tally = GaugeTally(Gauge("g", "g", ("k",), registry=registry).labels("x"), batched)
    tally.up()
    tally.up()
    tally.down()
    assert _count(registry, "g") == (0 if batched else 1)
    tally.flush()
    assert _count(registry, "g") == 1
    tally.down()
    tally.flush()
    assert _count(registry, "g") == 0
