"""Groups and memberships over HTTP: every row of the contract's groups table, on the
memory backend and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.app import serve
from tests.support.http import assert_problem, create
from tests.support.tokens import bearer, token
from users_service.entrypoints.container import Container

ALL_SCOPES = "users:read users:write groups:read groups:write"


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(container, headers=bearer(token(scope=ALL_SCOPES))) as service:
        yield service.client


async def make_group(
    client: httpx.AsyncClient, name: str = "Engineering", **fields: Any
) -> dict[str, Any]:
    response = await client.post("/groups", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def as_caller(scope: str, sub: str = "tester") -> dict[str, str]:
    return bearer(token(scope=scope, sub=sub))


class TestGroupResource:
    async def test_create_get_and_etag(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/groups", json={"name": "  Engineering ", "description": "Ships code"}
        )
        assert response.status_code == 201
        group = response.json()
        assert response.headers["location"] == f"/groups/{group['id']}"
        assert response.headers["etag"] == '"1"'
        assert {k: group[k] for k in ("name", "description", "member_count", "version")} == {
            "name": "Engineering",
            "description": "Ships code",
            "member_count": 0,
            "version": 1,
        }
        assert group["created_at"] == group["updated_at"]
        assert group["created_at"].endswith("Z")
        got = await client.get(f"/groups/{group['id']}")
        assert got.json() == group
        assert got.headers["etag"] == '"1"'
        unchanged = await client.get(f"/groups/{group['id']}", headers={"If-None-Match": '"1"'})
        assert unchanged.status_code == 304

    async def test_a_group_never_has_a_users_id(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        group = await make_group(client)
        bob = await create(client, "bob@example.com")
        assert ada["id"] < group["id"] < bob["id"]
        assert_problem(await client.get(f"/users/{group['id']}"), 404, "user_not_found")
        assert_problem(await client.get(f"/groups/{ada['id']}"), 404, "group_not_found")

    async def test_names_are_unique_case_insensitively(self, client: httpx.AsyncClient) -> None:
        await make_group(client, "Engineering")
        taken = await client.post("/groups", json={"name": "ENGINEERING"})
        assert_problem(taken, 409, "group_name_taken")
        other = await make_group(client, "Sales")
        renamed = await client.patch(f"/groups/{other['id']}", json={"name": "engineering"})
        assert_problem(renamed, 409, "group_name_taken")

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": ""},
            {"name": "   "},
            {"name": "x" * 101},
            {"name": "bad\x00name"},
            {"name": "ok", "description": "x" * 1001},
            {"name": "ok", "description": "bell\x07"},
            {"name": "ok", "member_count": 3},
            {"name": "ok", "id": 3},
            {"name": 7},
        ],
    )
    async def test_bad_bodies_are_422(self, client: httpx.AsyncClient, body: Any) -> None:
        assert_problem(await client.post("/groups", json=body), 422, "validation_failed")
        listed = await client.get("/groups")
        assert listed.json()["items"] == []  # nothing half-written

    async def test_patch_merges_and_clears(self, client: httpx.AsyncClient) -> None:
        group = await make_group(client, "Engineering", description="Ships code")
        renamed = await client.patch(f"/groups/{group['id']}", json={"name": "Eng"})
        assert renamed.json()["description"] == "Ships code"
        assert renamed.json()["version"] == 2
        assert renamed.headers["etag"] == '"2"'
        cleared = await client.patch(
            f"/groups/{group['id']}", json={"description": None}, headers={"If-Match": '"2"'}
        )
        assert cleared.json()["description"] is None
        assert cleared.json()["version"] == 3
        stale = await client.patch(
            f"/groups/{group['id']}", json={"name": "X"}, headers={"If-Match": '"2"'}
        )
        assert_problem(stale, 412, "precondition_failed")
        assert stale.headers["etag"] == '"3"'
        same = await client.patch(f"/groups/{group['id']}", json={"name": "Eng"})
        assert same.json()["version"] == 3  # a patch that changes nothing
        null_name = await client.patch(f"/groups/{group['id']}", json={"name": None})
        assert_problem(null_name, 422, "validation_failed")
        assert_problem(
            await client.patch("/groups/999999", json={"name": "Y"}), 404, "group_not_found"
        )

    async def test_list_pages_sorts_and_filters(self, client: httpx.AsyncClient) -> None:
        made = [await make_group(client, f"Group {i}") for i in range(5)]
        first = await client.get("/groups", params={"limit": 2})
        assert [g["id"] for g in first.json()["items"]] == [g["id"] for g in made[:2]]
        assert 'rel="next"' in first.headers["link"]
        rest = await client.get(
            "/groups", params={"limit": 10, "cursor": first.json()["next_cursor"]}
        )
        assert [g["id"] for g in rest.json()["items"]] == [g["id"] for g in made[2:]]
        assert rest.json()["next_cursor"] is None
        newest = await client.get("/groups", params={"sort": "-id", "limit": 1})
        assert newest.json()["items"] == [made[-1]]
        named = await client.get("/groups", params={"name": "GROUP 3"})
        assert named.json()["items"] == [made[3]]
        wrong = await client.get(
            "/groups", params={"sort": "-id", "cursor": first.json()["next_cursor"]}
        )
        assert_problem(wrong, 400, "invalid_cursor")
        assert_problem(await client.get("/groups", params={"limit": 201}), 422, "validation_failed")
        for bad in ("nul\x00", "", "x" * 101):
            refused = await client.get("/groups", params={"name": bad})
            assert_problem(refused, 422, "validation_failed")

    async def test_delete_takes_memberships_not_members(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        group = await make_group(client)
        await client.put(f"/groups/{group['id']}/members/{ada['id']}")
        stale = await client.delete(f"/groups/{group['id']}", headers={"If-Match": '"1"'})
        assert_problem(stale, 412, "precondition_failed")
        assert (await client.delete(f"/groups/{group['id']}")).status_code == 204
        assert_problem(await client.get(f"/groups/{group['id']}"), 404, "group_not_found")
        assert_problem(await client.delete(f"/groups/{group['id']}"), 404, "group_not_found")
        assert (await client.get(f"/users/{ada['id']}")).status_code == 200
        mine = await client.get(f"/users/{ada['id']}/groups")
        assert mine.json()["items"] == []


class TestMembers:
    async def test_put_and_delete_are_idempotent(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        group = await make_group(client)
        path = f"/groups/{group['id']}/members/{ada['id']}"
        assert (await client.put(path)).status_code == 204
        assert (await client.put(path)).status_code == 204  # already a member: no change
        after_add = (await client.get(f"/groups/{group['id']}")).json()
        assert (after_add["member_count"], after_add["version"]) == (1, 2)
        assert (await client.delete(path)).status_code == 204
        assert (await client.delete(path)).status_code == 204
        after_remove = (await client.get(f"/groups/{group['id']}")).json()
        assert (after_remove["member_count"], after_remove["version"]) == (0, 3)

    async def test_put_names_what_is_missing(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        group = await make_group(client)
        missing_user = await client.put(f"/groups/{group['id']}/members/{ada['id'] + 999}")
        assert_problem(missing_user, 404, "user_not_found")
        missing_group = await client.put(f"/groups/999999/members/{ada['id']}")
        assert_problem(missing_group, 404, "group_not_found")
        stale = await client.put(
            f"/groups/{group['id']}/members/{ada['id']}", headers={"If-Match": '"7"'}
        )
        assert_problem(stale, 412, "precondition_failed")
        assert (await client.get(f"/groups/{group['id']}")).json()["member_count"] == 0
        gone = await client.delete(f"/groups/999999/members/{ada['id']}")
        assert_problem(gone, 404, "group_not_found")
        not_a_user = await client.delete(f"/groups/{group['id']}/members/{ada['id'] + 999}")
        assert not_a_user.status_code == 204

    async def test_members_page_in_user_id_order(self, client: httpx.AsyncClient) -> None:
        users = [await create(client, f"user{i}@example.com") for i in range(5)]
        group = await make_group(client)
        for user in reversed(users):
            await client.put(f"/groups/{group['id']}/members/{user['id']}")
        first = await client.get(f"/groups/{group['id']}/members", params={"limit": 3})
        assert first.json()["items"] == users[:3]
        rest = await client.get(
            f"/groups/{group['id']}/members", params={"cursor": first.json()["next_cursor"]}
        )
        assert rest.json()["items"] == users[3:]
        assert rest.json()["next_cursor"] is None
        empty = await make_group(client, "Empty")
        assert (await client.get(f"/groups/{empty['id']}/members")).json()["items"] == []
        missing = await client.get("/groups/999999/members")
        assert_problem(missing, 404, "group_not_found")
        other = await client.get(
            f"/groups/{empty['id']}/members", params={"cursor": first.json()["next_cursor"]}
        )
        assert_problem(other, 400, "invalid_cursor")

    async def test_batch_adds_and_removes_all_or_nothing(self, client: httpx.AsyncClient) -> None:
        ada, bob, eve = [await create(client, f"{n}@example.com") for n in ("ada", "bob", "eve")]
        group = await make_group(client)
        path = f"/groups/{group['id']}/members"
        first = await client.post(path, json={"add": [ada["id"], bob["id"], ada["id"]]})
        assert first.status_code == 200
        assert first.json()["added"] == [ada["id"], bob["id"]]
        assert first.json()["removed"] == []
        assert first.json()["group"]["member_count"] == 2
        assert first.json()["group"]["version"] == 2
        assert first.headers["etag"] == '"2"'
        second = await client.post(
            path, json={"add": [bob["id"], eve["id"]], "remove": [ada["id"], 999999]}
        )
        assert second.json()["added"] == [eve["id"]]
        assert second.json()["removed"] == [ada["id"]]
        assert second.json()["group"]["member_count"] == 2
        assert second.json()["group"]["version"] == 3
        refused = await client.post(path, json={"add": [ada["id"], 999998, 999999]})
        body = assert_problem(refused, 422, "validation_failed")
        assert [e["loc"] for e in body["errors"]] == [["body", "add", 1], ["body", "add", 2]]
        both = await client.post(path, json={"add": [ada["id"]], "remove": [ada["id"]]})
        assert assert_problem(both, 422, "validation_failed")["errors"][0]["loc"] == [
            "body",
            "remove",
            0,
        ]
        assert_problem(await client.post(path, json={}), 422, "validation_failed")
        too_many = {"add": list(range(1, 1002))}
        assert_problem(await client.post(path, json=too_many), 422, "validation_failed")
        stale = await client.post(path, json={"add": [ada["id"]]}, headers={"If-Match": '"2"'})
        assert_problem(stale, 412, "precondition_failed")
        members = (await client.get(path)).json()["items"]
        assert [m["id"] for m in members] == [bob["id"], eve["id"]]  # nothing half-written
        missing = await client.post("/groups/999999/members", json={"add": [ada["id"]]})
        assert_problem(missing, 404, "group_not_found")

    async def test_a_users_groups(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        groups = [await make_group(client, f"Group {i}") for i in range(3)]
        for group in groups[::-1]:
            await client.put(f"/groups/{group['id']}/members/{ada['id']}")
        first = await client.get(f"/users/{ada['id']}/groups", params={"limit": 2})
        assert [g["id"] for g in first.json()["items"]] == [g["id"] for g in groups[:2]]
        rest = await client.get(
            f"/users/{ada['id']}/groups", params={"cursor": first.json()["next_cursor"]}
        )
        assert [g["id"] for g in rest.json()["items"]] == [groups[2]["id"]]
        assert_problem(await client.get("/users/999999/groups"), 404, "user_not_found")

    async def test_a_deleted_user_leaves_its_groups(self, client: httpx.AsyncClient) -> None:
        ada, bob = [await create(client, f"{n}@example.com") for n in ("ada", "bob")]
        group = await make_group(client)
        await client.post(f"/groups/{group['id']}/members", json={"add": [ada["id"], bob["id"]]})
        assert (await client.delete(f"/users/{ada['id']}")).status_code == 204
        after = (await client.get(f"/groups/{group['id']}")).json()
        assert (after["member_count"], after["version"]) == (1, 3)
        members = (await client.get(f"/groups/{group['id']}/members")).json()["items"]
        assert [m["id"] for m in members] == [bob["id"]]


class TestExpand:
    async def test_users_with_their_groups(self, client: httpx.AsyncClient) -> None:
        ada, bob = [await create(client, f"{n}@example.com") for n in ("ada", "bob")]
        groups = [await make_group(client, f"Group {i}") for i in range(2)]
        for group in groups:
            await client.put(f"/groups/{group['id']}/members/{ada['id']}")
        page = (await client.get("/users", params={"expand": "groups"})).json()
        by_id = {u["id"]: u for u in page["items"]}
        assert by_id[ada["id"]]["groups"] == [{"id": g["id"], "name": g["name"]} for g in groups]
        assert by_id[ada["id"]]["groups_complete"] is True
        assert by_id[bob["id"]]["groups"] == []
        one = await client.get(f"/users/{ada['id']}", params={"expand": "groups"})
        assert one.json() == by_id[ada["id"]]
        assert one.headers["etag"] == f'"{ada["version"]}"'
        plain = (await client.get(f"/users/{ada['id']}")).json()
        assert "groups" not in plain
        assert_problem(
            await client.get("/users", params={"expand": "friends"}), 422, "validation_failed"
        )

    async def test_the_first_hundred_groups_and_a_flag(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        groups = [await make_group(client, f"Group {i:03}") for i in range(101)]
        for group in groups:
            await client.put(f"/groups/{group['id']}/members/{ada['id']}")
        one = (await client.get(f"/users/{ada['id']}", params={"expand": "groups"})).json()
        assert [g["id"] for g in one["groups"]] == [g["id"] for g in groups[:100]]
        assert one["groups_complete"] is False


class TestAuthorization:
    async def test_scopes(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        group = await make_group(client)
        users_only = as_caller("users:read users:write")
        reader = as_caller("groups:read")
        for response in (
            await client.get(f"/groups/{group['id']}", headers=users_only),
            await client.get("/groups", headers=users_only),
            await client.post("/groups", json={"name": "X"}, headers=reader),
            await client.put(f"/groups/{group['id']}/members/{ada['id']}", headers=reader),
            await client.get(f"/groups/{group['id']}/members", headers=reader),  # + users:read
            await client.get("/users", params={"expand": "groups"}, headers=users_only),
        ):
            assert_problem(response, 403, "insufficient_scope")
        assert (await client.get(f"/groups/{group['id']}", headers=reader)).status_code == 200
        # A reader of users, not of groups: told which scope it lacks, not "not found".
        theirs = await client.get(f"/users/{ada['id']}/groups", headers=users_only)
        assert_problem(theirs, 403, "insufficient_scope")
        # The scope is checked before any user is read, whatever the page holds.
        empty_page = await client.get(
            "/users", params={"expand": "groups", "email": "nobody@example.com"}, headers=users_only
        )
        assert_problem(empty_page, 403, "insufficient_scope")
        assert_problem(await client.get("/groups", headers=bearer("nope")), 401, "invalid_token")

    async def test_self_service_reads_only_its_own_groups(self, client: httpx.AsyncClient) -> None:
        ada, bob = [await create(client, f"{n}@example.com") for n in ("ada", "bob")]
        group = await make_group(client)
        await client.put(f"/groups/{group['id']}/members/{ada['id']}")
        await client.put(f"/groups/{group['id']}/members/{bob['id']}")
        as_ada = as_caller("", sub=str(ada["id"]))
        mine = await client.get(f"/users/{ada['id']}/groups", headers=as_ada)
        assert [g["id"] for g in mine.json()["items"]] == [group["id"]]
        expanded = await client.get(
            f"/users/{ada['id']}", params={"expand": "groups"}, headers=as_ada
        )
        assert expanded.json()["groups"] == [{"id": group["id"], "name": group["name"]}]
        # Another user's groups, like another user, do not exist for a self-service caller.
        theirs = await client.get(f"/users/{bob['id']}/groups", headers=as_ada)
        nobody = await client.get("/users/999999/groups", headers=as_ada)
        assert_problem(theirs, 404, "user_not_found")
        assert theirs.json()["detail"].replace(str(bob["id"]), "N") == nobody.json()[
            "detail"
        ].replace("999999", "N")


class TestIdempotency:
    async def test_a_keyed_create_is_replayed(self, client: httpx.AsyncClient) -> None:
        key = {"Idempotency-Key": "group-1"}
        first = await client.post("/groups", json={"name": "Engineering"}, headers=key)
        again = await client.post("/groups", json={"name": "Engineering"}, headers=key)
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        other = await client.post("/groups", json={"name": "Sales"}, headers=key)
        assert_problem(other, 422, "idempotency_key_reused")

    async def test_a_keyed_member_change_is_replayed(self, client: httpx.AsyncClient) -> None:
        ada = await create(client, "ada@example.com")
        group = await make_group(client)
        key = {"Idempotency-Key": "members-1"}
        path = f"/groups/{group['id']}/members"
        first = await client.post(path, json={"add": [ada["id"]]}, headers=key)
        again = await client.post(path, json={"add": [ada["id"]]}, headers=key)
        assert again.json() == first.json()
        assert again.json()["added"] == [ada["id"]]  # the first outcome, not a second one
        assert (await client.get(f"/groups/{group['id']}")).json()["version"] == 2
