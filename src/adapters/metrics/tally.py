"""The request path's observations, tallied in plain numbers and added to the
prometheus-client instruments once a second and before each scrape (`METRICS_BATCHED`,
default true).

prometheus-client's `observe` costs, per call, two checks, a lock taken twice and a
Python loop over the bucket bounds; `inc`/`dec` a check and a lock each. Three of those on
every GET (the request's duration, its statement's duration, the active-requests gauge)
were half of what metrics cost a request. A tally costs one `bisect` and two additions.

The flush writes each bucket's and the sum's increments into the histogram child's own
values (`_buckets`, `_sum`: private to prometheus-client, so a canary test checks them,
`tests/unit/test_library_hooks.py`). Everything runs on the event loop's thread: the
requests that tally and the flush that empties the tallies never interleave. A scrape
of the main port flushes first; `METRICS_PORT`'s server thread and other workers' values
(`--workers N`) are at most a second old. With `METRICS_BATCHED=false` every observation
goes straight to prometheus-client.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from prometheus_client import Gauge, Histogram


class HistogramTally:
    """One histogram series. `observe` is the tally's own, or the child's when unbatched."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum", "observe")

    def __init__(self, child: Histogram, bounds: tuple[float, ...], batched: bool) -> None:
        self._child: Any = child
        self._bounds = (*bounds, float("inf"))
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self.observe = self._tally if batched else child.observe

    def _tally(self, seconds: float) -> None:
        # prometheus-client's rule: the first bucket whose bound is >= the value.
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def flush(self) -> None:
        counts = self._counts
        if not any(counts):
            return
        buckets = self._child._buckets
        for index, count in enumerate(counts):
            if count:
                buckets[index].inc(count)
                counts[index] = 0
        self._child._sum.inc(self._sum)
        self._sum = 0.0


class GaugeTally:
    """A gauge moved up and down by requests: a plain count, set on the gauge at flush
    (unbatched: the gauge's own `inc` and `dec`)."""

    __slots__ = ("_batched", "_child", "_count", "down", "up")

    def __init__(self, child: Gauge, batched: bool) -> None:
        self._child = child
        self._count = 0
        self._batched = batched
        self.up = self._up if batched else child.inc
        self.down = self._down if batched else child.dec

    def _up(self) -> None:
        self._count += 1

    def _down(self) -> None:
        self._count -= 1

    def flush(self) -> None:
        if self._batched:
            self._child.set(self._count)
