"""Who may do what: scopes and the self-service rule, decided by the use cases."""

from __future__ import annotations

import pytest

from tests.support.principals import ADMIN
from users_service.application.access import READ, WRITE, InsufficientScope, Principal
from users_service.application.users.delete import DeleteUser
from users_service.application.users.get import GetUser
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers, UserInput
from users_service.application.users.update import UpdateUser
from users_service.domain.errors import UserNotFound
from users_service.domain.user import User

READER = Principal("reader", frozenset({READ}))
WRITER = Principal("writer", frozenset({WRITE}))


@pytest.fixture
async def ada(register: RegisterUsers) -> User:
    return await register.one(ADMIN, "ada@example.com", "Ada")


@pytest.fixture
async def bob(register: RegisterUsers) -> User:
    return await register.one(ADMIN, "bob@example.com", "Bob")


def self_service(user: User) -> Principal:
    return Principal(str(user.id), frozenset())


async def test_self_service_reads_and_changes_itself(
    ada: User, get_user: GetUser, update_user: UpdateUser
) -> None:
    me = self_service(ada)
    assert await get_user(me, ada.id) == ada
    changed = await update_user(me, ada.id, name="Ada L")
    assert changed.name.value == "Ada L"


async def test_self_service_sees_no_one_else(
    ada: User, bob: User, get_user: GetUser, update_user: UpdateUser
) -> None:
    me = self_service(ada)
    with pytest.raises(UserNotFound):
        await get_user(me, bob.id)
    with pytest.raises(UserNotFound):
        await update_user(me, bob.id, name="Hacked")
    with pytest.raises(UserNotFound):  # missing and foreign ids look alike
        await get_user(me, 999)
    assert (await get_user(ADMIN, bob.id)).name.value == "Bob"


async def test_self_service_cannot_list_delete_or_create(
    ada: User, list_users: ListUsers, delete_user: DeleteUser, register: RegisterUsers
) -> None:
    me = self_service(ada)
    with pytest.raises(InsufficientScope) as caught:
        await list_users(me)
    assert caught.value.scope == READ
    with pytest.raises(InsufficientScope) as caught:
        await delete_user(me, ada.id)
    assert caught.value.scope == WRITE
    with pytest.raises(InsufficientScope):
        await register.one(me, "new@example.com", "New")
    with pytest.raises(InsufficientScope):
        await register.many(me, [UserInput("new@example.com", "New")])


async def test_reader_reads_but_never_writes(
    ada: User,
    get_user: GetUser,
    list_users: ListUsers,
    update_user: UpdateUser,
    delete_user: DeleteUser,
    register: RegisterUsers,
) -> None:
    assert await get_user(READER, ada.id) == ada
    assert len((await list_users(READER)).items) == 1
    for attempt in (
        update_user(READER, ada.id, name="X"),
        delete_user(READER, ada.id),
        register.one(READER, "x@example.com", "X"),
    ):
        with pytest.raises(InsufficientScope) as caught:
            await attempt
        assert caught.value.scope == WRITE
    assert await get_user(READER, ada.id) == ada


async def test_writer_without_read_writes_but_cannot_list(
    ada: User, list_users: ListUsers, update_user: UpdateUser, delete_user: DeleteUser
) -> None:
    assert (await update_user(WRITER, ada.id, name="Changed")).version == 2
    with pytest.raises(InsufficientScope):
        await list_users(WRITER)
    await delete_user(WRITER, ada.id)
