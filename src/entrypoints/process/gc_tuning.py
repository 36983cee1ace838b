"""The collector's work per request, kept small (`GC_FREEZE`, default on).

Once a worker has started, everything it has built so far (modules, the app, its routes,
the metrics registry, the pool) lives as long as the process. `gc.freeze()` moves it out
of the collector's generations, so that the full collections a busy server triggers now
and then no longer walk hundreds of thousands of objects that can never be garbage: their
cost no longer grows with what was loaded at start (metrics, tracing) nor lands at random
on some requests. Nothing is lost: frozen objects are only never collected, which they
would not be anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap(enabled: bool) -> None:
    """Called once the app has started (its lifespan's start-up is done)."""
    if not enabled:
        return
    gc.collect()  # what start-up left as garbage goes now, not frozen for ever
    gc.freeze()
