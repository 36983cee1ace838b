"""Every use case runs a fixed number of statements, whatever the number of rows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.clock import SteppingClock
from tests.support.databases import database_for, empty_tables, url_of
from tests.support.emails import EMAILS
from tests.support.principals import ADMIN
from tests.support.statements import count_statements
from users_service.adapters.sqlalchemy import (
    SqlAlchemyUnitOfWorkFactory,
)
from users_service.application.events import EventPolicy
from users_service.application.users.delete import DeleteUser
from users_service.application.users.get import GetUser
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers, UserInput
from users_service.application.users.update import UpdateUser


@pytest.fixture
async def uow(engine: AsyncEngine) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    await empty_tables(engine)
    database = database_for(url_of(engine))
    try:
        yield SqlAlchemyUnitOfWorkFactory(database)
    finally:
        await database.dispose()
    await empty_tables(engine)


async def test_batch_of_1000_is_one_insert(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    register = RegisterUsers(uow, SteppingClock(), EMAILS)
    items = [UserInput(f"user{i}@example.com", f"User {i}") for i in range(1000)]
    async with count_statements(uow.database) as log:
        users = await register.many(ADMIN, items)
    assert len(users) == 1000
    assert len(log.data_statements) == 1
    assert log.data_statements[0].lstrip().upper().startswith("INSERT")


async def test_get_list_and_update_are_one_statement_each(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    clock = SteppingClock()
    users = await RegisterUsers(uow, clock, EMAILS).many(
        ADMIN, [UserInput(f"user{i}@example.com", f"User {i}") for i in range(300)]
    )
    async with count_statements(uow.database) as log:
        await GetUser(uow)(ADMIN, users[5].id)
    assert len(log.data_statements) == 1

    async with count_statements(uow.database) as log:
        page = await ListUsers(uow, EMAILS)(ADMIN, limit=200)
    assert len(page.items) == 200
    assert len(log.data_statements) == 1

    async with count_statements(uow.database) as log:
        page = await ListUsers(uow, EMAILS)(ADMIN, limit=200, ids=[u.id for u in users[:200]])
    assert len(page.items) == 200
    assert len(log.data_statements) == 1

    async with count_statements(uow.database) as log:
        await UpdateUser(uow, clock, EMAILS)(
            ADMIN, users[0].id, name="Renamed", expected_versions=[1]
        )
    assert len(log.data_statements) == 1


async def test_register_one_is_one_statement(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    async with count_statements(uow.database) as log:
        await RegisterUsers(uow, SteppingClock(), EMAILS).one(ADMIN, "ada@example.com", "Ada")
    assert len(log.data_statements) == 1


async def test_only_single_creates_run_without_transaction_control(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    """Creating one user is one INSERT, atomic by itself: on PostgreSQL it is
    sent with no BEGIN and no COMMIT around it (two round trips saved). Updates and
    deletes keep their transaction (a cancelled one must not land late), and so does a
    multi-row batch, which stays all or nothing. A delete locks the user's groups (on
    PostgreSQL) and the user's row, lets its memberships go (one DELETE, whatever their
    number), then deletes the user. SQLite, in process, keeps BEGIN IMMEDIATE."""
    clock = SteppingClock()
    register = RegisterUsers(uow, clock, EMAILS)
    async with count_statements(uow.database) as log:
        ada = await register.one(ADMIN, "ada@example.com", "Ada")
        await UpdateUser(uow, clock, EMAILS)(ADMIN, ada.id, name="Ada L", expected_versions=[1])
        await DeleteUser(uow, clock)(ADMIN, ada.id, expected_versions=[2])
    verbs = [s.split(None, 1)[0].upper().rstrip(";") for s in log.service_statements]
    if engine.dialect.name == "postgresql":
        assert verbs == [
            "INSERT",
            "BEGIN", "UPDATE", "COMMIT",
            "BEGIN", "SELECT", "SELECT", "DELETE", "DELETE", "COMMIT",
        ]  # fmt: skip
    else:
        assert verbs == [
            "BEGIN",
            "INSERT",
            "BEGIN",
            "UPDATE",
            "BEGIN",
            "SELECT",
            "DELETE",
            "DELETE",
        ]

    async with count_statements(uow.database) as log:
        await register.many(
            ADMIN, [UserInput("a@example.com", "A"), UserInput("b@example.com", "B")]
        )
    verbs = [s.split(None, 1)[0].upper().rstrip(";") for s in log.service_statements]
    expected = (
        ["BEGIN", "INSERT", "COMMIT"]
        if engine.dialect.name == "postgresql"
        else ["BEGIN", "INSERT"]
    )
    assert verbs == expected


async def test_echo_logs_statements_on_every_path(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """DB_ECHO logs what runs: SQLAlchemy's engine logger on SQLite, the service's own
    (`users_service.sql`) on PostgreSQL's asyncpg pool."""
    echoing = database_for(url_of(engine), echo=True)
    logger = "sqlalchemy.engine" if echoing.dialect_name == "sqlite" else "users_service.sql"
    try:
        with caplog.at_level(logging.INFO, logger=logger):
            async with SqlAlchemyUnitOfWorkFactory(echoing)(read_only=True) as tx:
                await tx.users.get(1)
    finally:
        await echoing.dispose()
    assert any("FROM users" in record.getMessage() for record in caplog.records)


async def test_with_events_each_change_and_its_event_are_one_statement(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    """With events on, PostgreSQL still sends a single create as one
    statement with no BEGIN/COMMIT (a data-modifying CTE writes the user and its event),
    and an update as one statement in its transaction; a delete is its locks (its groups,
    then the user), its memberships' DELETE and one statement. SQLite writes the event as
    a second INSERT in the same transaction."""
    clock = SteppingClock()
    events = EventPolicy()
    async with count_statements(uow.database) as log:
        ada = await RegisterUsers(uow, clock, EMAILS, events=events).one(ADMIN, "a@x.org", "A")
        await UpdateUser(uow, clock, EMAILS, events=events)(ADMIN, ada.id, name="B")
        await DeleteUser(uow, clock, events=events)(ADMIN, ada.id)
    verbs = [s.split(None, 1)[0].upper().rstrip(";") for s in log.service_statements]
    if engine.dialect.name == "postgresql":
        assert verbs == [
            "WITH",
            "BEGIN", "WITH", "COMMIT",
            "BEGIN", "SELECT", "SELECT", "DELETE", "WITH", "COMMIT",
        ]  # fmt: skip
    else:
        assert verbs == [
            "BEGIN", "INSERT", "INSERT",
            "BEGIN", "SELECT", "UPDATE", "INSERT",
            "BEGIN", "SELECT", "DELETE", "DELETE", "INSERT",
        ]  # fmt: skip
    async with uow() as unit:
        assert [e.kind.value for e in await unit.outbox.pending(10)] == [
            "created",
            "updated",
            "deleted",
        ]
