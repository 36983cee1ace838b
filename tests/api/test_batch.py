from __future__ import annotations

import httpx

from tests.support.http import assert_problem, create


def _users(count: int, prefix: str = "user") -> list[dict[str, str]]:
    return [{"email": f"{prefix}{i}@example.com", "name": f"User {i}"} for i in range(count)]


async def test_batch_creates_in_request_order(client: httpx.AsyncClient) -> None:
    users = _users(3)
    response = await client.post("/users/batch", json={"users": users})
    assert response.status_code == 201
    items = response.json()["items"]
    assert [u["email"] for u in items] == [u["email"] for u in users]
    assert all(u["version"] == 1 for u in items)


async def test_batch_of_1000(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/batch", json={"users": _users(1000)})
    assert response.status_code == 201
    assert len(response.json()["items"]) == 1000


async def test_batch_over_1000_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/batch", json={"users": _users(1001)})
    assert_problem(response, 422, "validation_failed")
    assert (await client.get("/users")).json()["items"] == []


async def test_empty_batch_is_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/users/batch", json={"users": []}), 422, "validation_failed")


async def test_batch_conflicts_name_every_email_and_store_nothing(
    client: httpx.AsyncClient,
) -> None:
    await create(client, "taken@example.com")
    users = [
        {"email": "new@example.com", "name": "New"},
        {"email": "Taken@example.com", "name": "Stored clash"},
        {"email": "twice@example.com", "name": "Twice"},
        {"email": "TWICE@example.com", "name": "Twice again"},
    ]
    response = await client.post("/users/batch", json={"users": users})
    body = assert_problem(response, 409, "email_already_registered")
    assert body["conflicts"] == [
        {"index": 1, "email": "Taken@example.com"},
        {"index": 2, "email": "twice@example.com"},
        {"index": 3, "email": "TWICE@example.com"},
    ]
    listing = (await client.get("/users")).json()["items"]
    assert [u["email"] for u in listing] == ["taken@example.com"]


async def test_batch_invalid_item_is_located_by_index(client: httpx.AsyncClient) -> None:
    users = [*_users(2), {"email": "bad", "name": "Bad"}, {"email": "x@example.com", "name": ""}]
    body = assert_problem(
        await client.post("/users/batch", json={"users": users}), 422, "validation_failed"
    )
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "users", 2, "email"] in locs
    assert ["body", "users", 3, "name"] in locs
    assert (await client.get("/users")).json()["items"] == []


async def test_batch_item_with_read_only_field_is_422(client: httpx.AsyncClient) -> None:
    users = [{"email": "a@example.com", "name": "A", "id": 1}]
    body = assert_problem(
        await client.post("/users/batch", json={"users": users}), 422, "validation_failed"
    )
    assert ["body", "users", 0, "id"] in [e["loc"] for e in body["errors"]]
