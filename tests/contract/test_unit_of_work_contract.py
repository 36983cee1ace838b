"""The kinds of unit of work mean the same on every adapter (memory, SQLite, PostgreSQL):
a transaction undoes what was not committed; an insert-only unit's one insert stands,
commit or not, and it refuses any other write."""

from __future__ import annotations

import pytest

from tests.contract.test_repository_contract import T0, new
from users_service.application.repository import PageQuery
from users_service.application.unit_of_work import InsertOnlyViolation, UnitOfWorkFactory
from users_service.domain.user import UserChanges
from users_service.domain.values import Name


async def _emails(uow: UnitOfWorkFactory) -> list[str]:
    async with uow(read_only=True) as tx:
        return [u.email.value for u in await tx.users.page(PageQuery(limit=50))]


async def test_a_transaction_left_without_commit_is_undone(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        await tx.users.insert_new([new("ada@example.com")], T0)
    assert await _emails(uow) == []


async def test_an_insert_only_insert_stands_without_commit(uow: UnitOfWorkFactory) -> None:
    async with uow(insert_only=True) as tx:
        [user] = await tx.users.insert_new([new("ada@example.com")], T0)
    assert user is not None
    assert await _emails(uow) == ["ada@example.com"]


async def test_an_insert_only_insert_stands_when_the_block_fails(uow: UnitOfWorkFactory) -> None:
    class Later(Exception):
        pass

    async def insert_then_fail() -> None:
        async with uow(insert_only=True) as tx:
            await tx.users.insert_new([new("ada@example.com")], T0)
            raise Later

    with pytest.raises(Later):
        await insert_then_fail()
    assert await _emails(uow) == ["ada@example.com"]


async def test_an_insert_only_commit_is_harmless(uow: UnitOfWorkFactory) -> None:
    async with uow(insert_only=True) as tx:
        await tx.users.insert_new([new("ada@example.com")], T0)
        await tx.commit()
    assert await _emails(uow) == ["ada@example.com"]


async def test_an_insert_only_conflict_inserts_nothing(uow: UnitOfWorkFactory) -> None:
    async with uow(insert_only=True) as tx:
        await tx.users.insert_new([new("ada@example.com")], T0)
    async with uow(insert_only=True) as tx:
        assert await tx.users.insert_new([new("ADA@example.com")], T0) == [None]
    assert await _emails(uow) == ["ada@example.com"]


async def test_an_insert_only_unit_refuses_any_other_write(uow: UnitOfWorkFactory) -> None:
    async with uow(insert_only=True) as tx:
        [user] = await tx.users.insert_new([new("ada@example.com")], T0)
        assert user is not None
        assert await tx.users.get(user.id) == user  # reads are fine
        with pytest.raises(InsertOnlyViolation):
            await tx.users.insert_new([new("bob@example.com")], T0)
        with pytest.raises(InsertOnlyViolation):
            await tx.users.update(user.id, UserChanges(name=Name.parse("B")), T0)
        with pytest.raises(InsertOnlyViolation):
            await tx.users.delete(user.id, now=T0)
        with pytest.raises(InsertOnlyViolation):
            _ = tx.idempotency
    assert await _emails(uow) == ["ada@example.com"]
