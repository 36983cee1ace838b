"""Progress of a bulk run, on stderr: a live bar on a terminal (rich), one line every few
seconds elsewhere (CI, a pipe), or nothing (`--quiet`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol


class Counts(Protocol):
    """What a run has done so far: rows it went through, rows it refused, in words."""

    @property
    def read(self) -> int: ...

    @property
    def rejected(self) -> int: ...

    def describe(self) -> str: ...


def _line(counts: Counts, elapsed: float) -> str:
    rate = counts.read / elapsed if elapsed > 0 else 0.0
    return f"{counts.describe()} ({rate:,.0f} rows/s, {elapsed:.1f} s)"


class Progress:
    def __init__(
        self,
        *,
        quiet: bool,
        interval: float,
        total: int | None,
        position: Callable[[], int],
        terminal: bool | None = None,
    ) -> None:
        self._quiet = quiet
        self._interval = interval
        self._position = position
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None
        self._task: Any = None
        terminal = sys.stderr.isatty() if terminal is None else terminal
        if not quiet and terminal:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.fields[rows]:>12,} rows {task.fields[rate]:>9,.0f}/s"),
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("rejected {task.fields[rejected]:,}"),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("import", total=total, rows=0, rate=0.0, rejected=0)

    def update(self, counts: Counts) -> None:
        now = time.monotonic()
        elapsed = now - self._started
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=self._position(),
                rows=counts.read,
                rate=counts.read / elapsed if elapsed else 0.0,
                rejected=counts.rejected,
            )
        elif not self._quiet and now - self._last_line >= self._interval:
            self._last_line = now
            print(_line(counts, elapsed), file=sys.stderr, flush=True)

    def finish(self, counts: Counts, outcome: str) -> None:
        if self._bar is not None:
            self.update(counts)
            self._bar.stop()
        if not self._quiet:
            elapsed = time.monotonic() - self._started
            print(f"{outcome}: {_line(counts, elapsed)}", file=sys.stderr, flush=True)
