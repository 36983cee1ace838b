"""PostgreSQL units of work take an idle connection from SQLAlchemy's pool, and give it
back when the pool has room, without a greenlet round trip; whenever the pool has to do
I/O (open a connection again, pre-ping, close a surplus one) they go the usual way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.clock import SteppingClock
from tests.support.databases import empty_tables
from tests.support.emails import EMAILS
from tests.unit.conftest import ADMIN
from users_service.adapters.sqlalchemy import (
    EngineOptions,
    SqlAlchemyUnitOfWorkFactory,
    create_engine,
    fast_path,
)
from users_service.application.users.get import GetUser
from users_service.application.users.register import RegisterUsers

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def pooled_engine(url: str, **options: Any) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(EngineOptions(url=url, **options))
    try:
        await empty_tables(engine)
        yield engine
    finally:
        await engine.dispose()


@contextmanager
def counting_greenlet_checkins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    calls = 0
    usual = fast_path.greenlet_spawn

    async def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await usual(fn, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(fast_path, "greenlet_spawn", counted)
        yield lambda: calls


@contextmanager
def counting_greenlet_checkouts(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[], int]]:
    """Counts checkouts through `AsyncEngine.raw_connection` (the greenlet path)."""
    calls = 0
    usual = AsyncEngine.raw_connection

    async def counted(self: AsyncEngine) -> Any:
        nonlocal calls
        calls += 1
        return await usual(self)

    with monkeypatch.context() as patch:
        patch.setattr(AsyncEngine, "raw_connection", counted)
        yield lambda: calls


async def _seed(engine: AsyncEngine) -> int:
    uow = SqlAlchemyUnitOfWorkFactory(engine)
    return (
        await RegisterUsers(uow, SteppingClock(), EMAILS).one(ADMIN, "ada@example.com", "Ada")
    ).id


@contextmanager
def lent_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The asyncpg connections the pool lends the fast path meanwhile, in order. (Not a
    pool listener: a listener makes the fast path step aside.)"""
    lent: list[Any] = []
    usual = fast_path.checkout

    async def recorded(engine: AsyncEngine) -> Any:
        pooled = await usual(engine)
        lent.append(pooled.driver_connection)
        return pooled

    with monkeypatch.context() as patch:
        patch.setattr(fast_path, "checkout", recorded)
        yield lent


async def _reads(engine: AsyncEngine, user_id: int, rounds: int) -> None:
    get = GetUser(SqlAlchemyUnitOfWorkFactory(engine))
    for _ in range(rounds):
        assert (await get(ADMIN, user_id)).id == user_id


async def test_idle_connections_come_and_go_without_a_greenlet(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pooled_engine(postgres_url, pool_size=2) as engine:
        user_id = await _seed(engine)  # leaves an idle connection in the pool
        with (
            counting_greenlet_checkouts(monkeypatch) as greenlet_checkouts,
            counting_greenlet_checkins(monkeypatch) as greenlet_checkins,
        ):
            await _reads(engine, user_id, 20)
        assert greenlet_checkouts() == 0
        assert greenlet_checkins() == 0
        assert engine.sync_engine.pool.checkedout() == 0


async def test_connections_to_open_again_are_opened_the_usual_way(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pool_recycle=0 replaces the connection at every checkout: each needs I/O. (A
    coroutine left unawaited on the way would fail this test: warnings are errors.)"""
    async with pooled_engine(postgres_url, pool_size=2, pool_recycle=0) as engine:
        user_id = await _seed(engine)
        with (
            lent_connections(monkeypatch) as lent,
            counting_greenlet_checkouts(monkeypatch) as greenlet_checkouts,
        ):
            await _reads(engine, user_id, 10)
        assert greenlet_checkouts() == 10
        assert len({id(driver) for driver in lent}) == 10  # a new connection every time
        assert sum(not driver.is_closed() for driver in lent) == 1  # the others closed
        assert engine.sync_engine.pool.checkedout() == 0


async def test_pre_ping_always_takes_the_usual_checkout(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pooled_engine(postgres_url, pool_size=2, pool_pre_ping=True) as engine:
        user_id = await _seed(engine)
        with (
            lent_connections(monkeypatch) as lent,
            counting_greenlet_checkouts(monkeypatch) as greenlet_checkouts,
        ):
            await _reads(engine, user_id, 5)
        assert greenlet_checkouts() == 5
        assert len({id(driver) for driver in lent}) == 1  # pinged and kept, never reopened
        assert engine.sync_engine.pool.checkedout() == 0


async def test_surplus_connections_are_closed_the_usual_way(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
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

        with (
            lent_connections(monkeypatch) as lent,
            counting_greenlet_checkins(monkeypatch) as greenlet_checkins,
        ):
            tasks = [asyncio.create_task(hold()) for _ in range(4)]
            while holding < 4:
                await asyncio.sleep(0.01)
            assert engine.sync_engine.pool.checkedout() == 4
            release.set()
            await asyncio.gather(*tasks)
        # One went back into the pool; three surplus connections were closed, awaiting.
        assert greenlet_checkins() == 3
        pool = engine.sync_engine.pool
        assert pool.checkedout() == 0
        assert pool.checkedin() == 1
        assert sorted(driver.is_closed() for driver in lent) == [False, True, True, True]


@pytest.mark.parametrize("hook", ["checkout", "checkin", "reset"])
async def test_pool_listeners_make_the_fast_path_step_aside(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    """A listener may await (instrumentation, SET ROLE): it needs the greenlet path."""
    async with pooled_engine(postgres_url, pool_size=2) as engine:
        user_id = await _seed(engine)
        heard: list[str] = []
        event.listen(engine.sync_engine.pool, hook, lambda *_: heard.append(hook))
        with (
            counting_greenlet_checkouts(monkeypatch) as greenlet_checkouts,
            counting_greenlet_checkins(monkeypatch) as greenlet_checkins,
        ):
            await _reads(engine, user_id, 5)
        assert greenlet_checkouts() == 5
        assert greenlet_checkins() == 5
        assert heard
        assert engine.sync_engine.pool.checkedout() == 0


async def test_without_the_fast_path_sqlalchemy_runs_everything(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pooled_engine(postgres_url, pool_size=2) as engine:
        uow = SqlAlchemyUnitOfWorkFactory(engine, fast_path=False)
        user = await RegisterUsers(uow, SteppingClock(), EMAILS).one(
            ADMIN, "bob@example.com", "Bob"
        )
        with lent_connections(monkeypatch) as lent:
            assert (await GetUser(uow)(ADMIN, user.id)).id == user.id
        assert lent == []  # the fast path's checkout never ran
        assert engine.sync_engine.pool.checkedout() == 0
