"""The N+1 rule for groups: a page of users with their groups, a page of members and a
change of members each cost a fixed number of statements, whatever the page size, the
number of groups per user and the size of the group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.clock import SteppingClock
from tests.support.databases import database_for, empty_tables, url_of
from tests.support.emails import EMAILS
from tests.support.principals import GROUPS_ADMIN
from tests.support.statements import count_statements
from users_service.adapters.sqlalchemy import SqlAlchemyUnitOfWorkFactory
from users_service.application.events import EventPolicy
from users_service.application.groups.membership import ChangeMembers
from users_service.application.groups.reading import ExpandGroups, ListMembers
from users_service.application.groups.writing import CreateGroup
from users_service.application.users.get import GetUser
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers, UserInput
from users_service.domain.group import Group
from users_service.domain.user import User


@pytest.fixture
async def uow(engine: AsyncEngine) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    await empty_tables(engine)
    database = database_for(url_of(engine))
    try:
        yield SqlAlchemyUnitOfWorkFactory(database)
    finally:
        await database.dispose()
    await empty_tables(engine)


async def _users(uow: SqlAlchemyUnitOfWorkFactory, count: int, prefix: str = "user") -> list[User]:
    register = RegisterUsers(uow, SteppingClock(), EMAILS)
    users: list[User] = []
    for start in range(0, count, 1000):
        items = [
            UserInput(f"{prefix}{i}@example.com", f"User {i}")
            for i in range(start, min(count, start + 1000))
        ]
        users += await register.many(GROUPS_ADMIN, items)
    return users


async def _groups(uow: SqlAlchemyUnitOfWorkFactory, count: int) -> list[Group]:
    create = CreateGroup(uow, SteppingClock())
    return [await create(GROUPS_ADMIN, f"Group {i:03}") for i in range(count)]


async def test_users_with_groups_cost_two_statements_whatever_their_number(
    uow: SqlAlchemyUnitOfWorkFactory,
) -> None:
    """The page, then the memberships of the whole page in one statement: for pages of
    1, 50 and 200 users with 0, 1 and 150 groups each."""
    users = await _users(uow, 200)
    groups = await _groups(uow, 150)
    change = ChangeMembers(uow, SteppingClock())
    expand = ExpandGroups(uow)
    everyone = [u.id for u in users]
    counts: set[int] = set()
    for groups_each in (0, 1, 150):
        if groups_each == 1:
            await change.batch(GROUPS_ADMIN, groups[0].id, everyone, [])
        if groups_each == 150:
            for group in groups[1:]:
                await change.batch(GROUPS_ADMIN, group.id, everyone, [])
        for size in (1, 50, 200):
            async with count_statements(uow.database) as log:
                page = await ListUsers(uow, EMAILS)(GROUPS_ADMIN, limit=size)
                expanded = await expand(GROUPS_ADMIN, page.items)
            assert len(page.items) == size
            for user in page.items:
                shown = expanded[user.id]
                assert len(shown.groups) == min(groups_each, 100)
                assert shown.complete == (groups_each <= 100)
                assert [g.id for g in shown.groups] == [g.id for g in groups[: len(shown.groups)]]
            counts.add(len(log.data_statements))
        async with count_statements(uow.database) as log:
            user = await GetUser(uow)(GROUPS_ADMIN, users[7].id)
            await expand(GROUPS_ADMIN, [user])
        counts.add(len(log.data_statements))
    assert counts == {2}


async def test_member_changes_and_pages_cost_the_same_for_any_group_size(
    engine: AsyncEngine, uow: SqlAlchemyUnitOfWorkFactory
) -> None:
    """Adding or removing one member, and reading a page of members, send the same
    statements to an empty group and to one of 3,000 members: a group's members are
    never read to change them."""
    users = await _users(uow, 3001)
    empty, big = await _groups(uow, 2)
    change = ChangeMembers(uow, SteppingClock(), EventPolicy())
    for start in range(0, 3000, 1000):
        await change.batch(GROUPS_ADMIN, big.id, [u.id for u in users[start : start + 1000]], [])
    newcomer = users[-1].id
    seen: dict[str, set[tuple[str, ...]]] = {"add": set(), "remove": set(), "page": set()}
    for group in (empty, big):
        async with count_statements(uow.database) as log:
            await change.add(GROUPS_ADMIN, group.id, newcomer)
        seen["add"].add(tuple(s.split(None, 1)[0].upper() for s in log.service_statements))
        async with count_statements(uow.database) as log:
            await change.remove(GROUPS_ADMIN, group.id, newcomer)
        seen["remove"].add(tuple(s.split(None, 1)[0].upper() for s in log.service_statements))
        async with count_statements(uow.database) as log:
            page = await ListMembers(uow)(GROUPS_ADMIN, group.id, limit=50)
        seen["page"].add(tuple(s.split(None, 1)[0].upper() for s in log.data_statements))
        assert len(page.items) == (0 if group is empty else 50)
    assert [len(shapes) for shapes in seen.values()] == [1, 1, 1]
    assert seen["page"] == {("SELECT",)}
    [add_statements] = seen["add"]
    # Lock the group; then insert the membership, move the group's count and record the
    # event: one statement on PostgreSQL (data-modifying CTEs), three on SQLite.
    expected = (
        ["SELECT", "WITH"]
        if engine.dialect.name == "postgresql"
        else [
            "SELECT",
            "INSERT",
            "UPDATE",
            "INSERT",
        ]
    )
    assert [s for s in add_statements if s not in ("BEGIN", "COMMIT")] == expected


async def test_a_batch_is_a_few_statements_however_many_members(
    uow: SqlAlchemyUnitOfWorkFactory,
) -> None:
    users = await _users(uow, 1000)
    small, large = await _groups(uow, 2)
    change = ChangeMembers(uow, SteppingClock(), EventPolicy())
    ids = [u.id for u in users]
    await change.batch(GROUPS_ADMIN, small.id, ids[:2], [])
    await change.batch(GROUPS_ADMIN, large.id, ids[:500], [])
    counts = []
    for group, add, remove in ((small, ids[2:3], ids[:1]), (large, ids[500:], ids[:499])):
        async with count_statements(uow.database) as log:
            result = await change.batch(GROUPS_ADMIN, group.id, add, remove)
        assert (len(result.added), len(result.removed)) == (len(add), len(remove))
        counts.append(len(log.data_statements))
    assert counts[0] == counts[1] <= 6
