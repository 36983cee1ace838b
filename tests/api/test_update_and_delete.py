from __future__ import annotations

import httpx
import pytest

from tests.support.http import assert_problem, create


async def test_patch_merges_and_bumps_version(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com", "Ada")
    response = await client.patch(f"/users/{user['id']}", json={"name": "Ada Lovelace"})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "ada@example.com"
    assert body["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert body["created_at"] == user["created_at"]
    assert body["updated_at"] > user["updated_at"]
    assert (await client.get(f"/users/{user['id']}")).json() == body


async def test_patch_accepts_merge_patch_media_type(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    response = await client.patch(
        f"/users/{user['id']}/",
        content=b'{"email": "Lovelace@Example.com"}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200
    assert response.json()["email"] == "Lovelace@example.com"


async def test_patch_to_other_spelling_of_own_email(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@x.com")
    response = await client.patch(f"/users/{user['id']}", json={"email": "Ada@x.com"})
    assert response.status_code == 200
    assert response.json()["email"] == "Ada@x.com"


async def test_patch_to_taken_email_is_409(client: httpx.AsyncClient) -> None:
    await create(client, "taken@example.com")
    user = await create(client, "ada@example.com")
    response = await client.patch(f"/users/{user['id']}", json={"email": "TAKEN@example.com"})
    body = assert_problem(response, 409, "email_already_registered")
    assert body["conflicts"] == [{"index": 0, "email": "TAKEN@example.com"}]
    assert (await client.get(f"/users/{user['id']}")).json() == user


@pytest.mark.parametrize(
    "payload",
    [
        {"email": None},
        {"name": None},
        {"name": ""},
        {"email": "nope"},
        {"id": 5},
        {"version": 9},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"updated_at": "2020-01-01T00:00:00Z"},
        {"nickname": "Ada"},
        ["name", "Ada"],
        "Ada",
    ],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, payload: object
) -> None:
    user = await create(client, "ada@example.com")
    response = await client.patch(f"/users/{user['id']}", json=payload)
    assert_problem(response, 422, "validation_failed")
    assert (await client.get(f"/users/{user['id']}")).json() == user


async def test_patch_missing_user_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.patch("/users/424242", json={"name": "X"}), 404, "user_not_found")


async def test_if_match_current_version_writes(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    response = await client.patch(
        f"/users/{user['id']}", json={"name": "New"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'


@pytest.mark.parametrize("if_match", ['"2"', 'W/"1"', "1", "garbage", '"99999999999999"'])
async def test_stale_or_unusable_if_match_is_412(client: httpx.AsyncClient, if_match: str) -> None:
    user = await create(client, "ada@example.com")
    response = await client.patch(
        f"/users/{user['id']}", json={"name": "New"}, headers={"If-Match": if_match}
    )
    body = assert_problem(response, 412, "precondition_failed")
    assert response.headers["etag"] == '"1"'
    assert "version 1" in body["detail"]
    assert (await client.get(f"/users/{user['id']}")).json() == user


async def test_if_match_star_and_lists(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    star = await client.patch(
        f"/users/{user['id']}", json={"name": "Two"}, headers={"If-Match": "*"}
    )
    assert star.status_code == 200
    listed = await client.patch(
        f"/users/{user['id']}", json={"name": "Three"}, headers={"If-Match": '"7", "2"'}
    )
    assert listed.status_code == 200
    assert listed.json()["version"] == 3


async def test_delete(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    response = await client.delete(f"/users/{user['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/users/{user['id']}"), 404, "user_not_found")
    assert_problem(await client.delete(f"/users/{user['id']}"), 404, "user_not_found")


async def test_delete_with_if_match(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    stale = await client.delete(f"/users/{user['id']}/", headers={"If-Match": '"3"'})
    assert_problem(stale, 412, "precondition_failed")
    assert (await client.get(f"/users/{user['id']}")).status_code == 200
    current = await client.delete(f"/users/{user['id']}/", headers={"If-Match": '"1"'})
    assert current.status_code == 204


async def test_deleted_ids_are_not_reused(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    await client.delete(f"/users/{user['id']}")
    again = await create(client, "ada@example.com")
    assert again["id"] > user["id"]
