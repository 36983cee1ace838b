"""PostgreSQL units of work borrow their asyncpg connection from SQLAlchemy's pool and
give it back settled: the pool's own options (recycling, pre-ping, overflow) and its
listeners apply to them as to any SQLAlchemy connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.clock import SteppingClock
from tests.support.databases import empty_tables, engine_for
from tests.support.emails import EMAILS
from tests.support.principals import ADMIN
from users_service.adapters.sqlalchemy import (
    SqlAlchemyUnitOfWorkFactory,
)
from users_service.application.users.get import GetUser
from users_service.application.users.register import RegisterUsers

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def pooled_engine(url: str, **options: Any) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(url, **options)
    try:
        await empty_tables(engine)
        yield engine
    finally:
        await engine.dispose()


async def _seed(engine: AsyncEngine) -> int:
    uow = SqlAlchemyUnitOfWorkFactory(engine)
    return (
        await RegisterUsers(uow, SteppingClock(), EMAILS).one(ADMIN, "ada@example.com", "Ada")
    ).id


@contextmanager
def lent_connections(engine: AsyncEngine) -> Iterator[list[Any]]:
    """The asyncpg connections the pool lends meanwhile, in order."""
    lent: list[Any] = []

    def recorded(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        lent.append(dbapi_connection.driver_connection)

    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", recorded)
    try:
        yield lent
    finally:
        event.remove(pool, "checkout", recorded)


async def _reads(engine: AsyncEngine, user_id: int, rounds: int) -> None:
    get = GetUser(SqlAlchemyUnitOfWorkFactory(engine))
    for _ in range(rounds):
        assert (await get(ADMIN, user_id)).id == user_id


async def test_idle_connections_are_reused(postgres_url: str) -> None:
    async with pooled_engine(postgres_url, pool_size=2) as engine:
        user_id = await _seed(engine)  # leaves an idle connection in the pool
        with lent_connections(engine) as lent:
            await _reads(engine, user_id, 20)
        assert len(lent) == 20
        assert len({id(driver) for driver in lent}) == 1
        assert not lent[0].is_closed()
        assert engine.sync_engine.pool.checkedout() == 0


async def test_connections_to_open_again_are_opened_by_the_pool(postgres_url: str) -> None:
    """pool_recycle=0 replaces the connection at every checkout. (A coroutine left
    unawaited on the way would fail this test: warnings are errors.)"""
    async with pooled_engine(postgres_url, pool_size=2, pool_recycle=0) as engine:
        user_id = await _seed(engine)
        with lent_connections(engine) as lent:
            await _reads(engine, user_id, 10)
        assert len({id(driver) for driver in lent}) == 10  # a new connection every time
        assert sum(not driver.is_closed() for driver in lent) == 1  # the others closed
        assert engine.sync_engine.pool.checkedout() == 0


async def test_pre_ping_keeps_a_live_connection(postgres_url: str) -> None:
    async with pooled_engine(postgres_url, pool_size=2, pool_pre_ping=True) as engine:
        user_id = await _seed(engine)
        with lent_connections(engine) as lent:
            await _reads(engine, user_id, 5)
        assert len(lent) == 5
        assert len({id(driver) for driver in lent}) == 1  # pinged and kept, never reopened
        assert engine.sync_engine.pool.checkedout() == 0


async def test_pre_ping_replaces_a_connection_the_server_closed(postgres_url: str) -> None:
    async with pooled_engine(postgres_url, pool_size=1, pool_pre_ping=True) as engine:
        user_id = await _seed(engine)
        with lent_connections(engine) as lent:
            await _reads(engine, user_id, 1)
        await _terminate(postgres_url, lent[0].get_server_pid())
        with lent_connections(engine) as lent_after:
            await _reads(engine, user_id, 1)  # answered, on a new connection
        assert lent_after[0] is not lent[0]


async def _terminate(url: str, pid: int) -> None:
    killer = engine_for(url, pool_size=1)
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_surplus_connections_are_closed(postgres_url: str) -> None:
    async with pooled_engine(postgres_url, pool_size=1, max_overflow=3) as engine:
        user_id = await _seed(engine)
        uow = SqlAlchemyUnitOfWorkFactory(engine)
        release = asyncio.Event()
        holding = 0

        async def hold() -> None:
            nonlocal holding
            async with uow(read_only=True) as tx:
                assert await tx.users.get(user_id) is not None
                holding += 1
                await release.wait()

        with lent_connections(engine) as lent:
            tasks = [asyncio.create_task(hold()) for _ in range(4)]
            while holding < 4:
                await asyncio.sleep(0.01)
            assert engine.sync_engine.pool.checkedout() == 4
            release.set()
            await asyncio.gather(*tasks)
        # One went back into the pool; three surplus connections were closed.
        pool = engine.sync_engine.pool
        assert pool.checkedout() == 0
        assert pool.checkedin() == 1
        assert sorted(driver.is_closed() for driver in lent) == [False, True, True, True]


async def test_a_connection_left_in_a_transaction_is_never_pooled(postgres_url: str) -> None:
    """A writer cancelled mid-transaction: its connection is discarded, not lent again
    with the transaction open."""
    async with pooled_engine(postgres_url, pool_size=1) as engine:
        user_id = await _seed(engine)
        uow = SqlAlchemyUnitOfWorkFactory(engine)
        started = asyncio.Event()

        async def stuck_writer() -> None:
            async with uow() as tx:
                assert await tx.users.get(user_id) is not None
                started.set()
                await asyncio.sleep(3600)

        with lent_connections(engine) as lent:
            task = asyncio.create_task(stuck_writer())
            await started.wait()
            assert lent[0].is_in_transaction()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _reads(engine, user_id, 1)
        assert not lent[-1].is_in_transaction()
        assert engine.sync_engine.pool.checkedout() == 0


@pytest.mark.parametrize("hook", ["checkout", "checkin"])
async def test_pool_listeners_run(postgres_url: str, hook: str) -> None:
    async with pooled_engine(postgres_url, pool_size=2) as engine:
        user_id = await _seed(engine)
        heard: list[str] = []
        event.listen(engine.sync_engine.pool, hook, lambda *_: heard.append(hook))
        await _reads(engine, user_id, 5)
        assert heard == [hook] * 5
        assert engine.sync_engine.pool.checkedout() == 0
