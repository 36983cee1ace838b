"""Uvicorn for a single process: a drained, cleanly stopped server exits with status 0
(the drain itself is `drain.SignalDrain`, chained from the app's lifespan)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn

_HANDLED = (signal.SIGINT, signal.SIGTERM)


class GracefulServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Like uvicorn's, minus re-raising the signal after shutdown: a drained,
        # cleanly stopped server exits with status 0.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in _HANDLED}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
