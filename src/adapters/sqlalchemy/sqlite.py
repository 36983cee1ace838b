"""SQLite: a SQLAlchemy engine (aiosqlite) and its connections, lent as sessions."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from users_service.adapters.sqlalchemy.engine import SQLITE_READ_ONLY, PoolUse
from users_service.adapters.sqlalchemy.errors import is_transient
from users_service.adapters.sqlalchemy.executors import ConnectionExecutor, Executor


class SqliteDatabase:
    """The service's `Database` on SQLite: a SQLAlchemy engine, lending `ConnectionSession`s. (Its
    reads share one snapshot per transaction in WAL mode: a snapshot is a plain read.)"""

    dialect_name = "sqlite"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def session(
        self, *, read_only: bool, insert_only: bool, snapshot: bool
    ) -> ConnectionSession:
        connection = await self.engine.connect()
        if read_only or snapshot:
            # A plain BEGIN, not BEGIN IMMEDIATE (engine.py).
            await connection.execution_options(**{SQLITE_READ_ONLY: True})
        return ConnectionSession(connection)

    def use(self) -> PoolUse:
        pool: Any = self.engine.sync_engine.pool
        used, idle = pool.checkedout(), pool.checkedin()
        return PoolUse(used=used, idle=idle, max=pool.size() + max(pool.overflow(), 0))

    async def dispose(self) -> None:
        await self.engine.dispose()


class ConnectionSession:
    """A SQLAlchemy `AsyncConnection` and its transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self.executor: Executor = ConnectionExecutor(connection)

    async def commit(self) -> None:
        await self._connection.commit()

    async def close(self, failed: bool) -> None:
        # Shielded: a cancelled request must still give its connection back.
        await asyncio.shield(self._close(failed))

    async def _close(self, failed: bool) -> None:
        # Failed: its state is in doubt (a vanished statement, a locked database).
        try:
            if failed:
                await self._connection.invalidate()
            await self._connection.close()  # rolls back whatever was not committed
        except Exception as exc:  # a dead connection is discarded by the pool anyway
            if not is_transient(exc):
                raise
