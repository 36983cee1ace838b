"""PostgreSQL units of work borrow their connection from the service's asyncpg pool and
give it back settled: connections are kept and reused, opened only on demand and never
beyond DB_POOL_SIZE + DB_MAX_OVERFLOW; DB_POOL_TIMEOUT, DB_POOL_RECYCLE and
DB_POOL_PRE_PING mean what docs/configuration.md says; a connection whose state is in
doubt is never lent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.clock import SteppingClock
from tests.support.databases import database_for, empty_tables, engine_for
from tests.support.emails import EMAILS
from tests.support.principals import ADMIN
from tests.support.timing import bound
from users_service.adapters.sqlalchemy import SqlAlchemyUnitOfWorkFactory
from users_service.adapters.sqlalchemy.postgres import PostgresDatabase
from users_service.application.errors import StorageUnavailable
from users_service.application.users.get import GetUser
from users_service.application.users.register import RegisterUsers

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def pooled(url: str, **options: Any) -> AsyncIterator[PostgresDatabase]:
    engine = engine_for(url)
    await empty_tables(engine)
    await engine.dispose()
    database = database_for(url, **options)
    assert isinstance(database, PostgresDatabase)
    try:
        yield database
    finally:
        await database.dispose()


async def _seed(database: PostgresDatabase) -> int:
    uow = SqlAlchemyUnitOfWorkFactory(database)
    return (
        await RegisterUsers(uow, SteppingClock(), EMAILS).one(ADMIN, "ada@example.com", "Ada")
    ).id


@contextmanager
def lent_connections(database: PostgresDatabase) -> Iterator[list[int]]:
    """The server process ids of the connections the pool lends meanwhile, in order."""
    lent: list[int] = []
    usual = database.acquire

    async def recorded() -> Any:
        connection = await usual()
        lent.append(connection.get_server_pid())
        return connection

    database.acquire = recorded  # type: ignore[method-assign]
    try:
        yield lent
    finally:
        database.acquire = usual  # type: ignore[method-assign]


async def _reads(database: PostgresDatabase, user_id: int, rounds: int) -> None:
    get = GetUser(SqlAlchemyUnitOfWorkFactory(database))
    for _ in range(rounds):
        assert (await get(ADMIN, user_id)).id == user_id


async def _server_pids(url: str) -> set[int]:
    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE application_name = 'users-service' AND datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def test_connections_are_opened_on_demand_and_reused(postgres_url: str) -> None:
    async with pooled(postgres_url, pool_size=3) as database:
        assert database.use().used == 0
        user_id = await _seed(database)
        with lent_connections(database) as lent:
            await _reads(database, user_id, 20)
        assert len(lent) == 20
        assert len(set(lent)) == 1  # one connection, lent again and again
        use = database.use()
        assert (use.used, use.idle, use.max) == (0, 1, 3)


async def test_never_more_than_the_pool_and_a_timeout_when_all_are_lent(
    postgres_url: str,
) -> None:
    others = await _server_pids(postgres_url)  # the test session's own connections
    async with pooled(postgres_url, pool_size=1, max_overflow=1, pool_timeout=0.3) as database:
        user_id = await _seed(database)
        uow = SqlAlchemyUnitOfWorkFactory(database)
        release = asyncio.Event()
        holding = 0

        async def hold() -> None:
            nonlocal holding
            async with uow(read_only=True) as tx:
                assert await tx.users.get(user_id) is not None
                holding += 1
                await release.wait()

        tasks = [asyncio.create_task(hold()) for _ in range(2)]
        while holding < 2:
            await asyncio.sleep(0.01)
        assert database.use().used == 2
        started = asyncio.get_running_loop().time()
        with pytest.raises(StorageUnavailable) as refused:
            await _reads(database, user_id, 1)
        waited = asyncio.get_running_loop().time() - started
        assert refused.value.cause == "pool_timeout"
        assert 0.3 <= waited < bound(2.0)
        release.set()
        await asyncio.gather(*tasks)
        assert database.use().used == 0
        assert len(await _server_pids(postgres_url) - others) == 2


async def test_idle_connections_are_closed_after_the_recycle_time(postgres_url: str) -> None:
    async with pooled(postgres_url, pool_size=2, pool_recycle=1) as database:
        user_id = await _seed(database)
        with lent_connections(database) as first:
            await _reads(database, user_id, 1)
        assert first[0] in await _server_pids(postgres_url)
        await asyncio.sleep(2.5)  # idle past DB_POOL_RECYCLE: closed
        assert first[0] not in await _server_pids(postgres_url)
        with lent_connections(database) as later:
            await _reads(database, user_id, 1)  # opened again on demand
        assert later[0] != first[0]


async def test_pre_ping_replaces_a_connection_the_server_closed(postgres_url: str) -> None:
    async with pooled(postgres_url, pool_size=1, pool_pre_ping=True) as database:
        user_id = await _seed(database)
        with lent_connections(database) as lent:
            await _reads(database, user_id, 3)
        assert len(set(lent)) == 1  # pinged and kept
        await _terminate(postgres_url, lent[0])
        with lent_connections(database) as lent_after:
            await _reads(database, user_id, 1)  # answered, on a new connection
        assert lent_after[-1] != lent[0]


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    postgres_url: str,
) -> None:
    """Without pre-ping too: asyncpg sees the server's goodbye on an idle connection, and
    the pool opens another instead of lending the closed one."""
    async with pooled(postgres_url, pool_size=1) as database:
        user_id = await _seed(database)
        with lent_connections(database) as lent:
            await _reads(database, user_id, 1)
        await _terminate(postgres_url, lent[0])
        await asyncio.sleep(0.1)  # the goodbye reaches the client
        with lent_connections(database) as lent_after:
            await _reads(database, user_id, 1)
        assert lent_after[0] != lent[0]
        assert database.use().used == 0


async def _terminate(url: str, pid: int) -> None:
    killer = engine_for(url, pool_size=1)
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_a_writer_cancelled_mid_transaction_gives_its_connection_back_clean(
    postgres_url: str,
) -> None:
    """Its transaction is rolled back, so what it wrote is gone, and the connection is
    lent again outside any transaction."""
    async with pooled(postgres_url, pool_size=1) as database:
        user_id = await _seed(database)
        uow = SqlAlchemyUnitOfWorkFactory(database)
        started = asyncio.Event()

        async def stuck_writer() -> None:
            async with uow() as tx:
                await tx.users.delete(user_id, now=SteppingClock().now())
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(stuck_writer())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        connection = await database.acquire()
        try:
            assert not connection.is_in_transaction()
        finally:
            await database.release(connection, discard=False)
        await _reads(database, user_id, 1)  # the delete was rolled back
        assert database.use().used == 0


async def test_callers_that_find_every_connection_promised_wait_no_longer_than_the_timeout(
    postgres_url: str,
) -> None:
    """Two connections, one lent, three callers at once: one gets the free connection,
    the two it was promised before them give up after DB_POOL_TIMEOUT, never hang."""
    async with pooled(postgres_url, pool_size=2, pool_timeout=0.3) as database:
        user_id = await _seed(database)
        uow = SqlAlchemyUnitOfWorkFactory(database)
        release = asyncio.Event()

        async def hold() -> None:
            async with uow(read_only=True) as tx:
                assert await tx.users.get(user_id) is not None
                await release.wait()

        holder = asyncio.create_task(hold())
        while database.use().used < 1:
            await asyncio.sleep(0.01)
        callers = [asyncio.create_task(hold()) for _ in range(3)]
        done, pending = await asyncio.wait(callers, timeout=bound(3.0))
        assert len(pending) == 1  # the one that got the second connection, holding it
        refusals = [task.exception() for task in done]
        assert all(isinstance(e, StorageUnavailable) for e in refusals), refusals
        assert {e.cause for e in refusals if isinstance(e, StorageUnavailable)} == {"pool_timeout"}
        release.set()
        await asyncio.gather(holder, *pending)
        assert database.use().used == 0


async def test_dispose_closes_every_connection(postgres_url: str) -> None:
    others = await _server_pids(postgres_url)  # the test session's own connections
    async with pooled(postgres_url, pool_size=3) as database:
        user_id = await _seed(database)
        await _reads(database, user_id, 2)
        assert await _server_pids(postgres_url) - others
        await database.dispose()
        assert await _server_pids(postgres_url) - others == set()
