from __future__ import annotations

import pytest

from tests.support.principals import ADMIN
from users_service.application.users.delete import DeleteUser
from users_service.application.users.get import GetUser
from users_service.application.users.register import RegisterUsers
from users_service.application.users.update import UpdateUser
from users_service.domain.errors import (
    EmailAlreadyRegistered,
    InvalidName,
    UserNotFound,
    VersionMismatch,
)


async def test_update_changes_fields_and_bumps_version(
    register: RegisterUsers, update_user: UpdateUser, get_user: GetUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    updated = await update_user(ADMIN, user.id, name="Ada Lovelace")
    assert updated.name.value == "Ada Lovelace"
    assert updated.email == user.email
    assert updated.version == 2
    assert updated.updated_at > user.updated_at
    assert updated.created_at == user.created_at
    assert await get_user(ADMIN, user.id) == updated


async def test_update_with_matching_version(
    register: RegisterUsers, update_user: UpdateUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    updated = await update_user(ADMIN, user.id, email="lovelace@example.com", expected_versions=[1])
    assert updated.email.value == "lovelace@example.com"
    assert updated.version == 2


async def test_update_with_stale_version_changes_nothing(
    register: RegisterUsers, update_user: UpdateUser, get_user: GetUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    await update_user(ADMIN, user.id, name="Ada 2")
    with pytest.raises(VersionMismatch) as caught:
        await update_user(ADMIN, user.id, name="Ada 3", expected_versions=[1])
    assert caught.value.current_version == 2
    assert (await get_user(ADMIN, user.id)).name.value == "Ada 2"


async def test_noop_patch_keeps_version(register: RegisterUsers, update_user: UpdateUser) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    assert (await update_user(ADMIN, user.id, name="Ada")).version == 1
    assert (await update_user(ADMIN, user.id)).version == 1
    with pytest.raises(VersionMismatch):
        await update_user(ADMIN, user.id, name="Ada", expected_versions=[7])


async def test_changing_case_of_own_email_is_not_a_conflict(
    register: RegisterUsers, update_user: UpdateUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    updated = await update_user(ADMIN, user.id, email="Ada@example.com")
    assert updated.email.value == "Ada@example.com"
    assert updated.version == 2


async def test_update_to_taken_email_conflicts(
    register: RegisterUsers, update_user: UpdateUser, get_user: GetUser
) -> None:
    await register.one(ADMIN, "taken@example.com", "Taken")
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    with pytest.raises(EmailAlreadyRegistered) as caught:
        await update_user(ADMIN, user.id, email="TAKEN@example.com", name="Changed")
    assert caught.value.emails == ("TAKEN@example.com",)
    assert await get_user(ADMIN, user.id) == user


async def test_update_missing_user(update_user: UpdateUser) -> None:
    with pytest.raises(UserNotFound):
        await update_user(ADMIN, 42, name="Nobody")
    with pytest.raises(UserNotFound):
        await update_user(ADMIN, 42)


async def test_update_rejects_invalid_values(
    register: RegisterUsers, update_user: UpdateUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    with pytest.raises(InvalidName):
        await update_user(ADMIN, user.id, name=" ")


async def test_delete(register: RegisterUsers, delete_user: DeleteUser, get_user: GetUser) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    await delete_user(ADMIN, user.id)
    with pytest.raises(UserNotFound):
        await get_user(ADMIN, user.id)
    with pytest.raises(UserNotFound):
        await delete_user(ADMIN, user.id)


async def test_delete_with_versions(
    register: RegisterUsers, delete_user: DeleteUser, get_user: GetUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    with pytest.raises(VersionMismatch):
        await delete_user(ADMIN, user.id, expected_versions=[2])
    assert await get_user(ADMIN, user.id) == user
    await delete_user(ADMIN, user.id, expected_versions=[1])
    with pytest.raises(UserNotFound):
        await get_user(ADMIN, user.id)


async def test_email_is_free_again_after_delete(
    register: RegisterUsers, delete_user: DeleteUser
) -> None:
    user = await register.one(ADMIN, "ada@example.com", "Ada")
    await delete_user(ADMIN, user.id)
    again = await register.one(ADMIN, "ADA@example.com", "Ada again")
    assert again.id > user.id
