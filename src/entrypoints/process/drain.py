"""The drain: what a worker does between SIGTERM and its server's graceful shutdown.

On the first SIGTERM (or SIGINT), readiness turns 503 at once, and the worker keeps
serving whatever reaches it for `DRAIN_SECONDS`, so a load balancer has time to stop
routing to it. Then the server's own handler runs: uvicorn stops accepting, waits up to
`SHUTDOWN_TIMEOUT` for in-flight requests and shuts the lifespan down.

The handlers are chained from the app's lifespan, which runs after uvicorn has installed
its own; that works the same in a single server and in each of several worker
processes (whose server class the supervisor chooses).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from users_service.entrypoints.process.lifecycle import Lifecycle

logger = logging.getLogger("users_service")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any]


class SignalDrain:
    def __init__(self, lifecycle: Lifecycle, drain_seconds: float) -> None:
        self._lifecycle = lifecycle
        self._drain_seconds = drain_seconds
        self._server_handlers: dict[int, Handler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._stopped = False

    def install(self) -> bool:
        """Chain in front of the server's signal handlers; False when there are none to
        chain to (not in the main thread, or not served by a server that handles signals)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
        if not all(callable(handler) for handler in handlers.values()):
            return False
        if any(handler == signal.default_int_handler for handler in handlers.values()):
            return False  # Python's own KeyboardInterrupt: no server is listening
        self._server_handlers = {sig: h for sig, h in handlers.items() if callable(h)}
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        return True

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if not self._draining:
            self._draining = True
            self._lifecycle.draining = True
            logger.info(
                "draining: readiness is 503, still serving",
                extra={"signal": signal.Signals(sig).name, "drain_seconds": self._drain_seconds},
            )
            assert self._loop is not None
            # Signal-safe hand-over to the loop, which then times the window.
            self._loop.call_soon_threadsafe(
                self._loop.call_later, self._drain_seconds, self._stop, sig, frame
            )
        elif sig == signal.SIGINT:
            self._stop(sig, frame)  # a second Ctrl-C cuts the window short

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        if self._stopped:
            # Already shutting down: pass repeats on (uvicorn's second SIGINT forces it).
            self._server_handlers[sig](sig, frame)
            return
        self._stopped = True
        logger.info("drain over: stop accepting, finish in-flight requests")
        self._server_handlers[sig](sig, frame)
