from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.support.http import assert_problem, create


async def test_create_returns_user_location_and_etag(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users", json={"email": "Ada.Lovelace@EXAMPLE.com", "name": "  Ada Lovelace "}
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    user = response.json()
    assert set(user) == {"id", "email", "name", "created_at", "updated_at", "version"}
    assert user["email"] == "Ada.Lovelace@example.com"
    assert user["name"] == "Ada Lovelace"
    assert user["version"] == 1
    assert response.headers["location"] == f"/users/{user['id']}"
    assert response.headers["etag"] == '"1"'
    created = datetime.fromisoformat(user["created_at"])
    assert created.utcoffset() is not None
    assert user["created_at"].endswith("Z")
    assert user["created_at"] == user["updated_at"]


async def test_seed_calls_keep_working(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/", json={"email": "seed@example.com", "name": "Seed"})
    assert response.status_code == 201
    body = response.json()
    assert {"id", "email", "name"} <= set(body)
    found = await client.get(f"/users/{body['id']}")
    assert found.status_code == 200
    assert found.json() == body
    assert (await client.get(f"/users/{body['id']}/")).json() == body
    assert_problem(await client.get("/users/999999"), 404, "user_not_found")


async def test_duplicate_email_in_any_case_is_409(client: httpx.AsyncClient) -> None:
    await create(client, "ada@example.com")
    response = await client.post("/users", json={"email": "ADA@Example.com", "name": "Other"})
    body = assert_problem(response, 409, "email_already_registered")
    assert body["conflicts"] == [{"index": 0, "email": "ADA@example.com"}]
    assert "ADA@example.com" in body["detail"]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"email": "not-an-email", "name": "Ada"}, ["body", "email"]),
        ({"email": "ada@example.com", "name": "   "}, ["body", "name"]),
        ({"email": "ada@example.com", "name": "Ada\u0000"}, ["body", "name"]),
        ({"email": "ada@example.com", "name": "x" * 101}, ["body", "name"]),
        ({"email": "ada@example.com", "name": "x" * 10_000}, ["body", "name"]),
        ({"email": "a" * 250 + "@example.com", "name": "Ada"}, ["body", "email"]),
        ({"email": "ada@example.com"}, ["body", "name"]),
        ({"name": "Ada"}, ["body", "email"]),
        ({"email": "ada@example.com", "name": 42}, ["body", "name"]),
        ({"email": "ada@example.com", "name": "Ada", "id": 7}, ["body", "id"]),
        ({"email": "ada@example.com", "name": "Ada", "version": 3}, ["body", "version"]),
        (
            {"email": "ada@example.com", "name": "Ada", "created_at": "2020-01-01T00:00:00Z"},
            ["body", "created_at"],
        ),
        ({"email": "ada@example.com", "name": "Ada", "role": "admin"}, ["body", "role"]),
    ],
)
async def test_invalid_create_is_422_naming_the_field(
    client: httpx.AsyncClient, payload: dict[str, object], loc: list[str]
) -> None:
    body = assert_problem(await client.post("/users", json=payload), 422, "validation_failed")
    assert loc in [e["loc"] for e in body["errors"]]
    assert all({"loc", "msg", "type"} == set(e) for e in body["errors"])
    listing = await client.get("/users")
    assert listing.json()["items"] == []


async def test_get_with_if_none_match(client: httpx.AsyncClient) -> None:
    user = await create(client, "ada@example.com")
    response = await client.get(f"/users/{user['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 304
    assert response.headers["etag"] == '"1"'
    assert response.content == b""
    weak = await client.get(f"/users/{user['id']}", headers={"If-None-Match": 'W/"1", "9"'})
    assert weak.status_code == 304
    stale = await client.get(f"/users/{user['id']}", headers={"If-None-Match": '"2"'})
    assert stale.status_code == 200
    assert stale.headers["etag"] == '"1"'


@pytest.mark.parametrize("bad_id", ["0", str(2**63), "9" * 40])
async def test_out_of_range_ids_are_422(client: httpx.AsyncClient, bad_id: str) -> None:
    assert_problem(await client.get(f"/users/{bad_id}"), 422, "validation_failed")
    assert_problem(await client.delete(f"/users/{bad_id}"), 422, "validation_failed")


@pytest.mark.parametrize("bad_id", ["-1", "abc", "1.5", "%201"])
async def test_non_numeric_ids_are_no_such_route(client: httpx.AsyncClient, bad_id: str) -> None:
    assert_problem(await client.get(f"/users/{bad_id}"), 404, "not_found")
    assert_problem(await client.delete(f"/users/{bad_id}"), 404, "not_found")


async def test_largest_id_is_a_clean_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"/users/{2**63 - 1}"), 404, "user_not_found")
