from __future__ import annotations

import pytest

from tests.support.principals import ADMIN
from users_service.application.users.get import GetUser
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers, UserInput
from users_service.domain.errors import InvalidEmail, InvalidValue, UserNotFound


async def _seed(register: RegisterUsers, count: int) -> list[int]:
    users = await register.many(
        ADMIN, [UserInput(f"user{i}@example.com", f"User {i}") for i in range(count)]
    )
    return [u.id for u in users]


async def test_get_missing_user_raises(get_user: GetUser) -> None:
    with pytest.raises(UserNotFound) as caught:
        await get_user(ADMIN, 99)
    assert caught.value.user_id == 99


async def test_pages_walk_every_user_once(register: RegisterUsers, list_users: ListUsers) -> None:
    ids = await _seed(register, 7)
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = await list_users(ADMIN, limit=3, after_id=after)
        pages += 1
        seen += [u.id for u in page.items]
        if page.next_after_id is None:
            break
        after = page.next_after_id
    assert seen == ids
    assert pages == 3


async def test_exact_page_has_no_next(register: RegisterUsers, list_users: ListUsers) -> None:
    await _seed(register, 3)
    page = await list_users(ADMIN, limit=3)
    assert len(page.items) == 3
    assert page.next_after_id is None


async def test_descending_pages(register: RegisterUsers, list_users: ListUsers) -> None:
    ids = await _seed(register, 5)
    first = await list_users(ADMIN, limit=2, descending=True)
    assert [u.id for u in first.items] == ids[::-1][:2]
    second = await list_users(ADMIN, limit=2, descending=True, after_id=first.next_after_id)
    assert [u.id for u in second.items] == ids[::-1][2:4]


async def test_email_filter_is_case_insensitive(
    register: RegisterUsers, list_users: ListUsers
) -> None:
    await _seed(register, 3)
    page = await list_users(ADMIN, email="USER1@EXAMPLE.COM")
    assert [u.email.value for u in page.items] == ["user1@example.com"]
    assert (await list_users(ADMIN, email="nobody@example.com")).items == []


async def test_ids_filter(register: RegisterUsers, list_users: ListUsers) -> None:
    ids = await _seed(register, 5)
    page = await list_users(ADMIN, ids=[ids[3], ids[0], 999, ids[3]])
    assert [u.id for u in page.items] == [ids[0], ids[3]]


@pytest.mark.parametrize("limit", [0, -1, 201])
async def test_limit_out_of_range_is_refused(list_users: ListUsers, limit: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        await list_users(ADMIN, limit=limit)
    assert caught.value.field == "limit"


async def test_too_many_ids_are_refused(list_users: ListUsers) -> None:
    with pytest.raises(InvalidValue) as caught:
        await list_users(ADMIN, ids=list(range(1, 202)))
    assert caught.value.field == "id"


async def test_invalid_email_filter_is_refused(list_users: ListUsers) -> None:
    with pytest.raises(InvalidEmail):
        await list_users(ADMIN, email="nul\x00@example.com")
