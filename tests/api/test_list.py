from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.http import assert_problem, create


async def _seed(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    users = [{"email": f"user{i}@example.com", "name": f"User {i}"} for i in range(count)]
    response = await client.post("/users/batch", json={"users": users})
    assert response.status_code == 201
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}
    assert "link" not in response.headers
    assert (await client.get("/users/")).json() == {"items": [], "next_cursor": None}


async def test_pages_follow_cursor_and_link(client: httpx.AsyncClient) -> None:
    users = await _seed(client, 7)
    seen: list[int] = []
    url = "/users?limit=3"
    pages = 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [u["id"] for u in body["items"]]
        pages += 1
        if body["next_cursor"] is None:
            assert "link" not in response.headers
            break
        link = response.headers["link"]
        assert link.endswith('>; rel="next"')
        assert f"cursor={body['next_cursor']}" in link
        url = link[1 : link.index(">")]
    assert seen == [u["id"] for u in users]
    assert pages == 3


async def test_default_limit_is_50(client: httpx.AsyncClient) -> None:
    await _seed(client, 51)
    body = (await client.get("/users")).json()
    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None


async def test_newest_first(client: httpx.AsyncClient) -> None:
    users = await _seed(client, 4)
    first = (await client.get("/users", params={"sort": "-id", "limit": 2})).json()
    assert [u["id"] for u in first["items"]] == [users[3]["id"], users[2]["id"]]
    second = (
        await client.get(
            "/users", params={"sort": "-id", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [u["id"] for u in second["items"]] == [users[1]["id"], users[0]["id"]]


async def test_email_filter_is_exact_and_case_insensitive(client: httpx.AsyncClient) -> None:
    await create(client, "Ada@example.com")
    await create(client, "adam@example.com")
    body = (await client.get("/users", params={"email": "ADA@EXAMPLE.COM"})).json()
    assert [u["email"] for u in body["items"]] == ["Ada@example.com"]


async def test_ids_filter(client: httpx.AsyncClient) -> None:
    users = await _seed(client, 5)
    wanted = [users[4]["id"], users[1]["id"], 999_999]
    response = await client.get("/users", params=[("id", str(i)) for i in wanted])
    assert [u["id"] for u in response.json()["items"]] == [users[1]["id"], users[4]["id"]]


async def test_more_than_200_ids_is_422(client: httpx.AsyncClient) -> None:
    params = [("id", str(i)) for i in range(1, 202)]
    assert_problem(await client.get("/users", params=params), 422, "validation_failed")


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, limit: str) -> None:
    body = assert_problem(
        await client.get("/users", params={"limit": limit}), 422, "validation_failed"
    )
    assert ["query", "limit"] in [e["loc"] for e in body["errors"]]


async def test_bad_sort_and_email_filter_are_422(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/users", params={"sort": "name"}), 422, "validation_failed")
    response = await client.get("/users", params={"email": "nul\u0000@example.com"})
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize("cursor", ["garbage!!", "", "AAAA", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"])
async def test_malformed_cursor_is_400(client: httpx.AsyncClient, cursor: str) -> None:
    assert_problem(await client.get("/users", params={"cursor": cursor}), 400, "invalid_cursor")


async def test_tampered_or_foreign_cursor_is_400(client: httpx.AsyncClient) -> None:
    await _seed(client, 3)
    cursor = (await client.get("/users", params={"limit": 1})).json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert_problem(await client.get("/users", params={"cursor": tampered}), 400, "invalid_cursor")
    other_query = await client.get("/users", params={"cursor": cursor, "sort": "-id"})
    assert_problem(other_query, 400, "invalid_cursor")
    ok = await client.get("/users", params={"cursor": cursor, "limit": 5})
    assert ok.status_code == 200
    assert len(ok.json()["items"]) == 2
