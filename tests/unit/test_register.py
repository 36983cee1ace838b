from __future__ import annotations

import pytest

from tests.support.principals import ADMIN
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.application.users.get import GetUser
from users_service.application.users.register import MAX_BATCH_SIZE, RegisterUsers, UserInput
from users_service.domain.errors import (
    EmailAlreadyRegistered,
    EmailConflict,
    InvalidEmail,
    InvalidName,
    InvalidValue,
)


async def test_register_assigns_id_version_and_timestamps(register: RegisterUsers) -> None:
    user = await register.one(ADMIN, "Ada@Example.COM", "  Ada Lovelace ")
    assert user.id == 1
    assert user.email.value == "Ada@example.com"
    assert user.name.value == "Ada Lovelace"
    assert user.version == 1
    assert user.created_at == user.updated_at
    assert user.created_at.utcoffset() is not None


async def test_register_is_durable(register: RegisterUsers, get_user: GetUser) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    assert await get_user(ADMIN, user.id) == user


async def test_register_rejects_taken_email_in_any_case(register: RegisterUsers) -> None:
    await register.one(ADMIN, "ada@example.com", "Ada")
    with pytest.raises(EmailAlreadyRegistered) as caught:
        await register.one(ADMIN, "ADA@example.com", "Another Ada")
    assert caught.value.conflicts == (EmailConflict(0, "ADA@example.com"),)


async def test_register_rejects_invalid_values(register: RegisterUsers) -> None:
    with pytest.raises(InvalidEmail):
        await register.one(ADMIN, "not-an-email", "Ada")
    with pytest.raises(InvalidName):
        await register.one(ADMIN, "ada@example.com", "\x00")


async def test_ids_only_grow(register: RegisterUsers) -> None:
    first = await register.one(ADMIN, "a@example.com", "A")
    with pytest.raises(EmailAlreadyRegistered):
        await register.one(ADMIN, "a@example.com", "A again")
    second = await register.one(ADMIN, "b@example.com", "B")
    assert second.id > first.id


async def test_batch_keeps_request_order(register: RegisterUsers) -> None:
    items = [UserInput(f"user{i}@example.com", f"User {i}") for i in range(5)]
    users = await register.many(ADMIN, items)
    assert [u.email.value for u in users] == [i.email for i in items]
    assert [u.id for u in users] == sorted(u.id for u in users)


async def test_batch_names_every_conflict_and_stores_nothing(
    register: RegisterUsers, uow: InMemoryUnitOfWorkFactory
) -> None:
    await register.one(ADMIN, "taken@example.com", "Taken")
    items = [
        UserInput("fresh@example.com", "Fresh"),
        UserInput("TAKEN@example.com", "Clash with stored"),
        UserInput("twice@example.com", "Twice"),
        UserInput("Twice@Example.com", "Twice again"),
    ]
    with pytest.raises(EmailAlreadyRegistered) as caught:
        await register.many(ADMIN, items)
    assert caught.value.conflicts == (
        EmailConflict(1, "TAKEN@example.com"),
        EmailConflict(2, "twice@example.com"),
        EmailConflict(3, "Twice@example.com"),
    )
    assert len(uow.store.committed.users) == 1


async def test_batch_invalid_item_is_located_by_index(register: RegisterUsers) -> None:
    items = [UserInput("ok@example.com", "Ok"), UserInput("bad", "Bad")]
    with pytest.raises(InvalidEmail) as caught:
        await register.many(ADMIN, items)
    assert caught.value.loc == ("users", 1, "email")


@pytest.mark.parametrize("size", [0, MAX_BATCH_SIZE + 1])
async def test_batch_size_is_bounded(register: RegisterUsers, size: int) -> None:
    items = [UserInput(f"u{i}@example.com", "U") for i in range(size)]
    with pytest.raises(InvalidValue) as caught:
        await register.many(ADMIN, items)
    assert caught.value.field == "users"


async def test_batch_of_maximum_size_is_accepted(register: RegisterUsers) -> None:
    items = [UserInput(f"u{i}@example.com", "U") for i in range(MAX_BATCH_SIZE)]
    assert len(await register.many(ADMIN, items)) == MAX_BATCH_SIZE
