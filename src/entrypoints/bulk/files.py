"""The files of `users-service import`: rows read from CSV or JSON Lines (a file, a `.gz`
file or stdin), streamed, never loaded whole; and the rejects file, in the input's format.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from users_service.application.users.importing import ImportRow, Rejection
from users_service.domain.errors import InvalidValue

Format = Literal["csv", "jsonl"]
# The code a rejected row carries: what the API answers for the same refusal.
VALIDATION_FAILED = "validation_failed"


class InputError(Exception):
    """The input cannot be read at all (exit status 2)."""


def format_of(path: str, given: str | None) -> Format:
    if given in ("csv", "jsonl"):
        return given  # type: ignore[return-value]
    name = path.removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise InputError(
        f"cannot tell the format of {path!r}: name it .csv or .jsonl, or pass --format"
    )


@dataclass
class Source:
    """A readable input and how far into it we are (for the progress bar)."""

    text: IO[str]
    raw: IO[bytes]
    size: int | None  # bytes, when known (a file, compressed or not)

    def position(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self.text.close()


def open_source(path: str) -> Source:
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        size = None
    else:
        file = Path(path)
        if not file.is_file():
            raise InputError(f"no such file: {path}")
        raw = file.open("rb")
        size = file.stat().st_size
    binary: Any = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
    text = io.TextIOWrapper(binary, encoding="utf-8", errors="strict", newline="")
    return Source(text, raw, size)


def read_rows(
    source: Source,
    fmt: Format,
    email_column: str = "email",
    name_column: str = "name",
    on_header: Callable[[Sequence[str]], None] | None = None,
) -> Iterator[ImportRow]:
    """The rows of `source`; for a CSV, `on_header` is told its header first."""
    if fmt == "csv":
        yield from _csv_rows(source.text, email_column, name_column, on_header)
    else:
        yield from _jsonl_rows(source.text)


def _csv_rows(
    text: IO[str],
    email_column: str,
    name_column: str,
    on_header: Callable[[Sequence[str]], None] | None,
) -> Iterator[ImportRow]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    missing = [c for c in (email_column, name_column) if c not in header]
    if missing:
        raise InputError(f"the CSV header has no column {', '.join(map(repr, missing))}")
    if on_header is not None:
        on_header(header)
    email_at, name_at = header.index(email_column), header.index(name_column)
    while True:
        line = reader.line_num + 1  # where the next record starts
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # this row only: the reader goes on with the next line
            yield ImportRow(line, {}, InvalidValue("row", f"Not valid CSV: {exc}"))
            continue
        if not values:
            continue  # a blank line
        source: dict[str, object] = dict(zip(header, values, strict=False))
        fields = {
            **source,
            "email": values[email_at] if email_at < len(values) else None,
            "name": values[name_at] if name_at < len(values) else None,
        }
        yield ImportRow(line, fields, source=source)


def _jsonl_rows(text: IO[str]) -> Iterator[ImportRow]:
    for line_number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield ImportRow(
                line_number,
                {"line": line.rstrip("\r\n")},
                InvalidValue("row", f"Not valid JSON: {exc}", loc=()),
            )
            continue
        if not isinstance(value, dict):
            yield ImportRow(
                line_number,
                {"line": line.rstrip("\r\n")},
                InvalidValue("row", "Input should be a JSON object"),
            )
            continue
        yield ImportRow(line_number, value)


class RejectsFile:
    """Each rejected row: the line it starts on, its input as read (every column of a
    CSV) and why, as the API would say it. Written anew by each run; a CSV one has the
    input's header, between `line` and the `code`, `loc` and `msg` columns."""

    def __init__(self, path: Path, fmt: Format) -> None:
        self._file = path.open("w", encoding="utf-8", newline="")
        self._fmt = fmt
        self._columns: Sequence[str] = ()
        self._csv: Any = csv.writer(self._file) if fmt == "csv" else None

    def header(self, columns: Sequence[str]) -> None:
        """The input's columns (a CSV's header), before any row."""
        self._columns = columns
        self._csv.writerow(["line", *columns, "code", "loc", "msg"])

    def __call__(self, rejection: Rejection) -> None:
        problems = rejection.problems
        row = rejection.row
        if self._fmt == "csv":
            fields = row.source if row.source is not None else row.fields
            self._csv.writerow(
                [
                    row.line,
                    *[_text(fields.get(c)) for c in self._columns],
                    VALIDATION_FAILED,
                    "; ".join(".".join(map(str, p.loc)) for p in problems),
                    "; ".join(p.message for p in problems),
                ]
            )
            return
        entry = {
            "line": row.line,
            "input": row.source if row.source is not None else row.fields,
            "code": VALIDATION_FAILED,
            "errors": [{"loc": list(p.loc), "msg": p.message} for p in problems],
        }
        self._file.write(orjson.dumps(entry, default=str).decode() + "\n")

    def close(self) -> None:
        self._file.close()


def _text(value: object) -> str:
    return "" if value is None else str(value)
