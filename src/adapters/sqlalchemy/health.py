from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_PING = text("SELECT 1")


class DatabasePing:
    """Readiness: one round trip on a pooled connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(_PING)
