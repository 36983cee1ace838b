from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.engine import SQLITE_READ_ONLY
from adapters.sqlalchemy.errors import is_transient, unavailable
from adapters.sqlalchemy.idempotency import SqlAlchemyIdempotencyRepository
from adapters.sqlalchemy.repository import SqlAlchemyUserRepository


class SqlAlchemyUnitOfWork:
    """One pooled connection and its transaction.

    A read-only unit of work on PostgreSQL runs in autocommit mode: a single SELECT
    needs no BEGIN/ROLLBACK round trips. Driver failures that mean "unavailable"
    leave as `StorageUnavailable`.
    """

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._connection: AsyncConnection | None = None
        self._users: SqlAlchemyUserRepository | None = None

    @property
    def users(self) -> SqlAlchemyUserRepository:
        if self._users is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        return self._users

    @property
    def idempotency(self) -> SqlAlchemyIdempotencyRepository:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        return SqlAlchemyIdempotencyRepository(self._connection)

    async def __aenter__(self) -> Self:
        try:
            connection = await self._engine.connect()
            if self._read_only:
                if connection.dialect.name == "sqlite":
                    await connection.execution_options(**{SQLITE_READ_ONLY: True})
                else:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:
            if is_transient(exc):
                raise unavailable(exc) from exc
            raise
        self._connection = connection
        self._users = SqlAlchemyUserRepository(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection, self._users = self._connection, None, None
        if connection is not None:
            # Closing returns the connection to the pool, rolling back whatever was not
            # committed. Shielded so that a cancelled request cannot leak a connection.
            await asyncio.shield(_close_quietly(connection))
        if exc is not None and is_transient(exc):
            raise unavailable(exc) from exc

    async def commit(self) -> None:
        if self._connection is None:
            raise RuntimeError("commit outside the unit of work")
        await self._connection.commit()


async def _close_quietly(connection: AsyncConnection) -> None:
    try:
        await connection.close()
    except Exception as exc:  # a dead connection is discarded by the pool anyway
        if not is_transient(exc):
            raise


class SqlAlchemyUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self, *, read_only: bool = False) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, read_only=read_only)
