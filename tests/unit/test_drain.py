"""`SignalDrain` in process: readiness turns at the first signal, the server's own handler
runs only when the window ends (or at once on a second SIGINT)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from users_service.entrypoints.process.drain import SignalDrain
from users_service.entrypoints.process.lifecycle import Lifecycle


class ServerHandler:
    """Stands in for uvicorn's `handle_exit`: records the signals it is handed."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        self.calls.append(sig)


@pytest.fixture
def server_handler() -> Iterator[ServerHandler]:
    handler = ServerHandler()
    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield handler
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


async def _until(condition: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_sigterm_turns_readiness_then_hands_over_after_the_window(
    server_handler: ServerHandler,
) -> None:
    lifecycle = Lifecycle()
    drain = SignalDrain(lifecycle, drain_seconds=0.3)
    assert drain.install()
    os.kill(os.getpid(), signal.SIGTERM)
    await _until(lambda: lifecycle.draining)
    assert server_handler.calls == []  # still serving inside the window
    os.kill(os.getpid(), signal.SIGTERM)  # a repeat changes nothing
    await asyncio.sleep(0.1)
    assert server_handler.calls == []
    await _until(lambda: server_handler.calls == [signal.SIGTERM])


async def test_a_second_sigint_cuts_the_window_short(server_handler: ServerHandler) -> None:
    lifecycle = Lifecycle()
    drain = SignalDrain(lifecycle, drain_seconds=60)
    assert drain.install()
    os.kill(os.getpid(), signal.SIGINT)
    await _until(lambda: lifecycle.draining)
    os.kill(os.getpid(), signal.SIGINT)
    await _until(lambda: server_handler.calls == [signal.SIGINT])


async def test_without_a_server_handler_nothing_is_installed() -> None:
    saved = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert not SignalDrain(Lifecycle(), drain_seconds=1).install()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, saved)
