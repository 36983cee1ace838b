from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from users_service.adapters.sqlalchemy.sessions import driver_for, scalar

_PING = text("SELECT 1")


class DatabasePing:
    """Readiness: one round trip on a pooled connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = driver_for(engine)

    async def __call__(self) -> None:
        await scalar(self._engine, self._driver, _PING)
