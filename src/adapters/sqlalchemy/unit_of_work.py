from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection, QueuePool
from sqlalchemy.util import greenlet_spawn

from users_service.adapters.sqlalchemy.engine import SQLITE_READ_ONLY
from users_service.adapters.sqlalchemy.errors import is_transient, unavailable
from users_service.adapters.sqlalchemy.executors import ConnectionExecutor, DriverExecutor, Executor
from users_service.adapters.sqlalchemy.idempotency import SqlAlchemyIdempotencyRepository
from users_service.adapters.sqlalchemy.repository import SqlAlchemyUserRepository


class _Session(Protocol):
    executor: Executor

    async def commit(self) -> None: ...

    def release_now(self, failed: bool) -> bool:
        """Give the connection back without awaiting, if nothing is left to settle."""
        ...

    async def close(self, failed: bool) -> None:
        """Settle what is left (roll back), then give the connection back."""
        ...


class _DriverSession:
    """PostgreSQL: a connection lent by SQLAlchemy's pool, driven through asyncpg.

    A read-only or single-write session opens no transaction (the driver autocommits
    each statement); a writer opens one and rolls it back unless committed. A connection
    whose state is in doubt (a failure or a cancellation mid-statement) is discarded, not
    pooled.

    Giving the connection back is synchronous when the pool has room for it: check-in
    then awaits nothing (SQLAlchemy's asyncpg adapter awaits only to roll back a
    transaction of its own, and this session never opens one through it; transactions
    run on the asyncpg connection and are settled first). That spares a greenlet round
    trip (10 µs of CPU or more, measured) per request. A surplus (overflow) connection is
    closed by the pool on check-in, which awaits: that one goes the usual, async way.
    """

    def __init__(self, pooled: PoolProxiedConnection, engine: AsyncEngine) -> None:
        self._pooled = pooled
        self._pool = engine.sync_engine.pool
        self._driver: Any = pooled.driver_connection
        self._transaction: Any = None
        self.executor: Executor = DriverExecutor(self._driver, engine)

    async def begin(self) -> None:
        self._transaction = self._driver.transaction()
        await self._transaction.start()

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.commit()

    def release_now(self, failed: bool) -> bool:
        if self._transaction is not None or not self._pool_has_room():
            return False
        self._discard_if(failed)
        self._pooled.close()
        return True

    async def close(self, failed: bool) -> None:
        transaction, self._transaction = self._transaction, None
        try:
            if transaction is not None and not self._driver.is_closed():
                await transaction.rollback()
        except Exception:
            failed = True
        self._discard_if(failed)
        if self._pool_has_room():
            self._pooled.close()
        else:
            await greenlet_spawn(self._pooled.close)

    def _discard_if(self, failed: bool) -> None:
        if failed or self._driver.is_in_transaction():
            self._pooled.invalidate()  # outside a greenlet, SQLAlchemy closes it at once

    def _pool_has_room(self) -> bool:
        pool = self._pool
        return isinstance(pool, QueuePool) and pool.checkedin() < pool.size()


class _ConnectionSession:
    """Any dialect (SQLite here): a SQLAlchemy `AsyncConnection` and its transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self.executor: Executor = ConnectionExecutor(connection)

    async def commit(self) -> None:
        await self._connection.commit()

    def release_now(self, failed: bool) -> bool:
        return False

    async def close(self, failed: bool) -> None:
        try:
            await self._connection.close()  # rolls back whatever was not committed
        except Exception as exc:  # a dead connection is discarded by the pool anyway
            if not is_transient(exc):
                raise


async def _checkout(engine: AsyncEngine) -> PoolProxiedConnection:
    """A connection from SQLAlchemy's pool, without a greenlet round trip when it can.

    `AsyncEngine.raw_connection()` runs the pool's synchronous checkout in a greenlet so
    that it may await, which costs 15 to 30 µs of CPU per request (measured), though
    handing over an idle, live connection awaits nothing. So while connections sit idle
    in the pool, the checkout is tried directly. If it would need I/O (a connection to
    open again after an invalidation or a recycle), SQLAlchemy raises `MissingGreenlet`
    before doing any, takes its connection record back as it does for any failed
    checkout, and the checkout is made again the usual way. Pre-ping always does I/O, so
    with `DB_POOL_PRE_PING` the usual way is the only way.
    """
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool) and pool.checkedin() > 0 and not _pre_pings(pool):
        try:
            return engine.sync_engine.raw_connection()
        except MissingGreenlet:
            pass
    return await engine.raw_connection()


def _pre_pings(pool: QueuePool) -> bool:
    return bool(getattr(pool, "_pre_ping", True))  # unknown: assume it does


async def _open(engine: AsyncEngine, read_only: bool, single_write: bool) -> _Session:
    if engine.dialect.name == "postgresql":
        session = _DriverSession(await _checkout(engine), engine)
        if not (read_only or single_write):
            try:
                await session.begin()
            except BaseException:
                await session.close(failed=True)
                raise
        return session
    connection = await engine.connect()
    if read_only:
        await connection.execution_options(**{SQLITE_READ_ONLY: True})
    return _ConnectionSession(connection)


class SqlAlchemyUnitOfWork:
    """One pooled connection and its transaction; driver failures that mean
    "unavailable" leave as `StorageUnavailable`."""

    def __init__(
        self, engine: AsyncEngine, *, read_only: bool = False, single_write: bool = False
    ) -> None:
        self._engine = engine
        self._read_only = read_only
        self._single_write = single_write
        self._session: _Session | None = None

    @property
    def users(self) -> SqlAlchemyUserRepository:
        return SqlAlchemyUserRepository(self._open_session().executor)

    @property
    def idempotency(self) -> SqlAlchemyIdempotencyRepository:
        return SqlAlchemyIdempotencyRepository(self._open_session().executor)

    def _open_session(self) -> _Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        try:
            self._session = await _open(self._engine, self._read_only, self._single_write)
        except Exception as exc:
            if is_transient(exc):
                raise unavailable(exc) from exc
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            failed = exc is not None and (
                is_transient(exc) or isinstance(exc, asyncio.CancelledError)
            )
            if not session.release_now(failed):
                # Shielded: a cancelled request must still return (or discard) its connection.
                await asyncio.shield(session.close(failed))
        if exc is not None and is_transient(exc):
            raise unavailable(exc) from exc

    async def commit(self) -> None:
        await self._open_session().commit()


class SqlAlchemyUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(
        self, *, read_only: bool = False, single_write: bool = False
    ) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, read_only=read_only, single_write=single_write)
