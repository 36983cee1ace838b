"""Process lifecycle state shared by the probes and the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

ReadinessProbe = Callable[[], Awaitable[None]]
"""Returns when storage answers; raises otherwise."""


@dataclass
class Lifecycle:
    """`draining` turns true when shutdown begins: /readyz answers 503 from then on."""

    draining: bool = False


async def always_ready() -> None:
    return None
