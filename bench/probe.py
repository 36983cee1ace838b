"""Before any load: check both servers answer alike, and collect each one's cursors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from config import RESULTS_DIR

USER_FIELDS = {"id", "email", "name", "created_at", "updated_at", "version"}


class ParityError(AssertionError):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ParityError(message)


def _check_user(where: str, user: Any) -> None:
    _expect(isinstance(user, dict) and set(user) == USER_FIELDS, f"{where}: fields {user!r}")
    for stamp in ("created_at", "updated_at"):
        _expect(str(user[stamp]).endswith("Z"), f"{where}: {stamp} is not RFC 3339 with Z")


async def check_contract(
    base_url: str, name: str, lowest_id: int, email_prefix: str, headers: dict[str, str]
) -> None:
    """The happy path of every benchmarked endpoint, as the load will drive it."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10.0) as client:
        got = await client.get(f"/users/{lowest_id}")
        _expect(got.status_code == 200, f"{name} GET /users/{{id}}: {got.status_code}")
        _check_user(f"{name} GET /users/{{id}}", got.json())
        _expect(got.headers.get("etag") == f'"{got.json()["version"]}"', f"{name}: ETag")

        page = await client.get("/users", params={"limit": 50})
        body = page.json()
        _expect(page.status_code == 200, f"{name} GET /users: {page.status_code}")
        _expect(set(body) == {"items", "next_cursor"}, f"{name} GET /users: keys {set(body)}")
        _expect(len(body["items"]) == 50, f"{name} GET /users: {len(body['items'])} items")
        _check_user(f"{name} GET /users", body["items"][0])
        _expect('rel="next"' in page.headers.get("link", ""), f"{name} GET /users: Link")

        user = {"email": f"{email_prefix}-one@example.com", "name": "Parity Check"}
        created = await client.post("/users", json=user)
        _expect(created.status_code == 201, f"{name} POST /users: {created.status_code}")
        _check_user(f"{name} POST /users", created.json())
        _expect("etag" in created.headers, f"{name} POST /users: ETag")
        _expect(
            created.headers.get("location") == f"/users/{created.json()['id']}",
            f"{name} POST /users: Location {created.headers.get('location')}",
        )

        users = [{"email": f"{email_prefix}-{i}@example.com", "name": "Parity"} for i in range(3)]
        batch = await client.post("/users/batch", json={"users": users})
        _expect(batch.status_code == 201, f"{name} POST /users/batch: {batch.status_code}")
        items = batch.json()["items"]
        _expect(len(items) == 3, f"{name} POST /users/batch: {len(items)} items")
        _check_user(f"{name} POST /users/batch", items[0])


async def check_groups(base_url: str, name: str, groups: Any, headers: dict[str, str]) -> None:
    """The groups' endpoints, as the load drives them: a page of the big group's members,
    a page of users with their groups, and a real addition (undone by the next reset)."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10.0) as client:
        members = await client.get(f"/groups/{groups.big}/members", params={"limit": 50})
        _expect(members.status_code == 200, f"{name} members: {members.status_code}")
        body = members.json()
        _expect(len(body["items"]) == 50, f"{name} members: {len(body['items'])} items")
        _check_user(f"{name} members", body["items"][0])
        _expect('rel="next"' in members.headers.get("link", ""), f"{name} members: Link")

        page = await client.get("/users", params={"limit": 50, "expand": "groups"})
        _expect(page.status_code == 200, f"{name} expand: {page.status_code}")
        first = page.json()["items"][0]
        _expect(len(first["groups"]) == 2, f"{name} expand: {first['groups']!r}")
        _expect(first["groups_complete"] is True, f"{name} expand: groups_complete")
        _check_user(f"{name} expand", {k: first[k] for k in USER_FIELDS})

        path = f"/groups/{groups.empty}/members/{groups.outsider_lo}"
        added = await client.put(path)
        _expect(added.status_code == 204, f"{name} PUT member: {added.status_code}")
        missing = await client.put(f"/groups/{groups.empty}/members/{groups.outsider_hi + 10**6}")
        _expect(missing.status_code == 404, f"{name} PUT unknown member: {missing.status_code}")


async def collect_cursors(
    base_url: str, name: str, limit: int, headers: dict[str, str], page_size: int = 200
) -> Path:
    """Walk the whole list; every page's next_cursor is a valid cursor for this server.

    A cursor is kept only if at least `limit` rows follow it, so every request the load
    sends gets a full page.
    """
    cursors: list[str] = []
    params: dict[str, str | int] = {"limit": page_size}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10.0) as client:
        while True:
            response = await client.get("/users", params=params)
            response.raise_for_status()
            body = response.json()
            if "cursor" in params and len(body["items"]) >= limit:
                cursors.append(str(params["cursor"]))
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
    if not cursors:
        raise RuntimeError(f"{name} issued no usable cursors")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-cursors.txt"
    path.write_text("\n".join(cursors) + "\n")
    return path
