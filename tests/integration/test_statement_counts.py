"""Every use case runs a fixed number of statements, whatever the number of rows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy import EngineOptions, SqlAlchemyUnitOfWorkFactory, create_engine
from application.users.get import GetUser
from application.users.listing import ListUsers
from application.users.register import RegisterUsers, UserInput
from application.users.update import UpdateUser
from tests.support.clock import SteppingClock
from tests.support.databases import empty_tables
from tests.support.statements import count_statements
from tests.unit.conftest import ADMIN


@pytest.fixture
async def uow(engine: AsyncEngine) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    await empty_tables(engine)
    yield SqlAlchemyUnitOfWorkFactory(engine)
    await empty_tables(engine)


async def test_batch_of_1000_is_one_insert(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    register = RegisterUsers(uow, SteppingClock())
    items = [UserInput(f"user{i}@example.com", f"User {i}") for i in range(1000)]
    with count_statements(engine) as log:
        users = await register.many(ADMIN, items)
    assert len(users) == 1000
    assert len(log.data_statements) == 1
    assert log.data_statements[0].lstrip().upper().startswith("INSERT")


async def test_get_list_and_update_are_one_statement_each(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    clock = SteppingClock()
    users = await RegisterUsers(uow, clock).many(
        ADMIN, [UserInput(f"user{i}@example.com", f"User {i}") for i in range(300)]
    )
    with count_statements(engine) as log:
        await GetUser(uow)(ADMIN, users[5].id)
    assert len(log.data_statements) == 1

    with count_statements(engine) as log:
        page = await ListUsers(uow)(ADMIN, limit=200)
    assert len(page.items) == 200
    assert len(log.data_statements) == 1

    with count_statements(engine) as log:
        page = await ListUsers(uow)(ADMIN, limit=200, ids=[u.id for u in users[:200]])
    assert len(page.items) == 200
    assert len(log.data_statements) == 1

    with count_statements(engine) as log:
        await UpdateUser(uow, clock)(ADMIN, users[0].id, name="Renamed", expected_versions=[1])
    assert len(log.data_statements) == 1


async def test_register_one_is_one_statement(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    with count_statements(engine) as log:
        await RegisterUsers(uow, SteppingClock()).one(ADMIN, "ada@example.com", "Ada")
    assert len(log.data_statements) == 1


async def test_echo_logs_statements_on_every_path(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """DB_ECHO logs what runs, also on PostgreSQL's direct asyncpg path."""
    echoing = create_engine(
        EngineOptions(url=engine.url.render_as_string(hide_password=False), echo=True)
    )
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            async with SqlAlchemyUnitOfWorkFactory(echoing)(read_only=True) as tx:
                await tx.users.get(1)
    finally:
        await echoing.dispose()
    assert any("FROM users" in record.getMessage() for record in caplog.records)
