"""docs/configuration.md, generated from the service's `Settings`: every variable, its
default and its meaning, as the code declares them. `make docs` writes the page; a test
fails when the page and `Settings` disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from users_service.entrypoints.settings import Settings

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

# Sections of the page, in order: a title and the variables' name prefixes it holds (the
# first section that matches takes a variable; the last takes what is left).
SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Storage", ("database_", "db_")),
    ("Authentication", ("auth_",)),
    ("Metrics", ("metrics",)),
    ("Events", ("events_", "nats_")),
    ("Serving", ("",)),
]

INTRO = """\
# Configuration

Every setting is an environment variable, or a line of a dotenv file: `.env` in the working
directory when there is one, or the file `ENV_FILE` names (`ENV_FILE=` reads none).
Variables in the environment win over the file. Relative paths (the default database
`./var/users.db`, `.env`) resolve against the process's working directory; an installed
service needs neither, and runs from a read-only working directory with an absolute
`DATABASE_URL`. A value that cannot be parsed stops the command at start-up, naming the
variable.

This page is generated from the code (`make docs`); a test keeps it equal to it.

{toc}

Tracing is configured by OpenTelemetry's own variables, read from the process environment
(not the dotenv file): `OTEL_TRACES_EXPORTER` (`otlp` or `console`; unset: no tracing),
`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; see
[Operations](operations.md#traces).
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is PydanticUndefined or value is None or value == []:
        return "(none)"
    if isinstance(value, SecretStr):
        return "(built in)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _section(name: str) -> str:
    for title, prefixes in SECTIONS:
        if any(name.startswith(prefix) for prefix in prefixes):
            return title
    return SECTIONS[-1][0]


def render() -> str:
    rows: dict[str, list[str]] = {title: [] for title, _ in SECTIONS}
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise ValueError(f"Settings.{name} has no description")
        meaning = " ".join(field.description.split())
        rows[_section(name)].append(f"| `{name.upper()}` | {_default(field)} | {meaning} |")
    toc = "\n".join(f"- [{title}](#{title.lower()})" for title, _ in SECTIONS)
    parts = [INTRO.format(toc=toc)]
    for title, _ in SECTIONS:
        table = "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows[title]])
        parts.append(f"## {title}\n\n{table}\n")
    return "\n".join(parts)


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
