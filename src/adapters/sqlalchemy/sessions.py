"""A unit of work's connection and transaction: one kind of session per backend.

- PostgreSQL, `DriverSession`: a connection from SQLAlchemy's pool
  (`AsyncEngine.connect()`), whose asyncpg connection (`get_raw_connection()
  .driver_connection`) runs the compiled statements. Read-only and insert-only units run
  without BEGIN/COMMIT: asyncpg autocommits each statement, so a read is one round trip.
  Writers open a transaction on the driver and roll it back unless committed. The pool
  does not reset connections on return (`pool_reset_on_return=None`, see `engine.py`):
  the session settles its own transaction, and a connection whose state is in doubt (a
  failure or a cancellation mid-statement, or a transaction it could not end) is
  invalidated, never pooled.
- SQLite, `ConnectionSession`: a SQLAlchemy `AsyncConnection` and its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from users_service.adapters.sqlalchemy.compiled import StatementCache
from users_service.adapters.sqlalchemy.engine import SQLITE_READ_ONLY
from users_service.adapters.sqlalchemy.errors import is_transient
from users_service.adapters.sqlalchemy.executors import (
    ConnectionExecutor,
    DriverExecutor,
    Executor,
)

_BEGIN = "BEGIN"
# One snapshot for every statement of the transaction, reads only (exports).
_BEGIN_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class Session(Protocol):
    executor: Executor

    async def commit(self) -> None: ...

    async def close(self, failed: bool) -> None:
        """Settle what is left (roll back), then give the connection back."""
        ...


@dataclass(frozen=True, slots=True)
class Driver:
    """How one PostgreSQL engine's sessions run: its compiled statements, and what each
    transaction sets first (behind PgBouncer, the timeouts a pooler cannot carry as
    startup parameters: `SET LOCAL`, sent with the BEGIN in one round trip)."""

    cache: StatementCache
    set_locals: Sequence[str] = ()

    def begin(self, *, snapshot: bool) -> str:
        return "; ".join([_BEGIN_SNAPSHOT if snapshot else _BEGIN, *self.set_locals])


class DriverSession:
    def __init__(self, connection: AsyncConnection, driver_connection: Any, executor: Executor):
        self._connection = connection
        self._driver = driver_connection
        self._in_transaction = False
        self.executor = executor

    @classmethod
    async def open(
        cls, engine: AsyncEngine, driver: Driver, *, transaction: bool, snapshot: bool = False
    ) -> DriverSession:
        connection = await engine.connect()
        try:
            pooled = await connection.get_raw_connection()
            raw = pooled.driver_connection
            echo = engine.sync_engine.logger if engine.echo else None
            session = cls(connection, raw, DriverExecutor(raw, driver.cache, echo))
            if transaction or snapshot:
                await session.begin(driver.begin(snapshot=snapshot))
        except BaseException:
            await _close_quietly(connection, invalidate=True)
            raise
        return session

    async def begin(self, sql: str) -> None:
        """Open the transaction (`sql`: BEGIN and what goes with it, one round trip)."""
        await self._driver.execute(sql)
        self._in_transaction = True

    async def commit(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            await self._driver.execute("COMMIT")

    async def close(self, failed: bool) -> None:
        in_transaction, self._in_transaction = self._in_transaction, False
        try:
            if in_transaction and not self._driver.is_closed():
                await self._driver.execute("ROLLBACK")
        except Exception:
            failed = True
        doubtful = failed or self._driver.is_in_transaction()
        await _close_quietly(self._connection, invalidate=doubtful)


class ConnectionSession:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self.executor: Executor = ConnectionExecutor(connection)

    @classmethod
    async def open(cls, engine: AsyncEngine, *, read_only: bool) -> ConnectionSession:
        connection = await engine.connect()
        if read_only:
            # SQLite: a plain BEGIN; in WAL mode its reads already share one snapshot.
            await connection.execution_options(**{SQLITE_READ_ONLY: True})
        return cls(connection)

    async def commit(self) -> None:
        await self._connection.commit()

    async def close(self, failed: bool) -> None:
        # Failed: its state is in doubt (a vanished statement, a locked database).
        await _close_quietly(self._connection, invalidate=failed)


async def _close_quietly(connection: AsyncConnection, *, invalidate: bool) -> None:
    """Give the connection back (rolling back what SQLAlchemy began), or discard it; a
    dead connection is discarded by the pool anyway."""
    try:
        if invalidate:
            await connection.invalidate()
        await connection.close()
    except Exception as exc:
        if not is_transient(exc):
            raise


def driver_for(engine: AsyncEngine, set_locals: Sequence[str] = ()) -> Driver | None:
    """The driver of a PostgreSQL engine; None for SQLite (SQLAlchemy runs it)."""
    if engine.dialect.name != "postgresql":
        return None
    return Driver(StatementCache(engine.dialect), tuple(set_locals))


async def open_session(
    engine: AsyncEngine,
    driver: Driver | None,
    *,
    read_only: bool,
    insert_only: bool = False,
    snapshot: bool = False,
) -> Session:
    """A session on `engine`: through its driver on PostgreSQL, SQLAlchemy's otherwise."""
    if driver is not None:
        transaction = not (read_only or insert_only)
        return await DriverSession.open(engine, driver, transaction=transaction, snapshot=snapshot)
    return await ConnectionSession.open(engine, read_only=read_only)


async def scalar(engine: AsyncEngine, driver: Driver | None, statement: Executable) -> Any:
    """One value from a read on its own connection (readiness, a replica's lag)."""
    session = await open_session(engine, driver, read_only=True)
    failed = True
    try:
        rows = await session.executor.rows(statement, {})
        failed = False
        return rows[0][0]
    finally:
        await session.close(failed)
