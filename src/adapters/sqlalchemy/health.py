from __future__ import annotations

from sqlalchemy import text

from users_service.adapters.sqlalchemy.sessions import Database, scalar

_PING = text("SELECT 1")


class DatabasePing:
    """Readiness: one round trip on a pooled connection."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def __call__(self) -> None:
        await scalar(self._database, _PING)
