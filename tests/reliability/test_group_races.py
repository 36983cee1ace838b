"""Races on groups, with real concurrent requests against PostgreSQL: additions to one
group keep its count and version exact, a user deleted while being added leaves nothing
behind, and of two groups created with one name exactly one wins.

Half of the rounds are gated: a transaction of the test's own holds the group's row (or
the table) until every racing request waits on it, so the race is certain to happen."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.reliability.test_concurrency import gated, spellings
from tests.support.reliability import (
    assert_problem,
    figures,
    make_settings,
    scalar,
    serve,
    statuses,
)

pytestmark = pytest.mark.postgres

FIGURES = figures("group races (outcomes)", Counter[str]())

ADDERS = 40
ROUNDS = 6


async def _group(client: httpx.AsyncClient, name: str) -> int:
    response = await client.post("/groups", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_concurrent_additions_keep_count_and_version_exact(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        client = service.client
        batch = await client.post(
            "/users/batch",
            json={"users": [{"email": f"m{i}@example.com", "name": "M"} for i in range(ADDERS)]},
        )
        ids = [u["id"] for u in batch.json()["items"]]
        for round_ in range(ROUNDS):
            group_id = await _group(client, f"Crowd {round_}")
            # Every user added once by a PUT, and again, overlapping, by batches.
            requests = [client.put(f"/groups/{group_id}/members/{i}") for i in ids]
            requests += [
                client.post(f"/groups/{group_id}/members", json={"add": ids[k::4]})
                for k in range(4)
            ]
            use_gate = postgres_engine if round_ % 2 == 0 else None
            responses = await gated(
                use_gate,
                requests,
                8,
                "SELECT id FROM groups WHERE id = :id FOR UPDATE",
                id=group_id,
            )
            assert set(statuses(responses)) <= {200, 204}, [r.text for r in responses]
            group = (await client.get(f"/groups/{group_id}")).json()
            real = await scalar(
                postgres_engine,
                "SELECT count(*) FROM group_members WHERE group_id = :id",
                id=group_id,
            )
            assert group["member_count"] == real == ADDERS
            # One version per request that really added someone, and no more: the batches
            # say what they added, and the PUTs added everyone else, one each.
            by_batches = [r.json()["added"] for r in responses if r.status_code == 200]
            added_by_batches = sum(len(added) for added in by_batches)
            changes = sum(1 for added in by_batches if added) + ADDERS - added_by_batches
            assert group["version"] == 1 + changes
        assert service.connections_lent() == 0


async def test_a_user_deleted_while_being_added_leaves_nothing(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        client = service.client
        group_id = await _group(client, "Transient")
        for round_ in range(ROUNDS * 3):
            created = await client.post(
                "/users", json={"email": f"gone{round_}@example.com", "name": "Gone"}
            )
            user_id = created.json()["id"]
            requests = [
                client.put(f"/groups/{group_id}/members/{user_id}"),
                client.delete(f"/users/{user_id}"),
            ]
            use_gate = postgres_engine if round_ % 2 == 0 else None
            put, delete = await gated(
                use_gate,
                requests,
                2,
                "SELECT id FROM users WHERE id = :id FOR UPDATE",
                id=user_id,
            )
            assert delete.status_code == 204, delete.text
            if put.status_code != 204:
                assert_problem(put, 404, "user_not_found")
            FIGURES[f"PUT {put.status_code} beside a DELETE of its user"] += 1
            orphans = await scalar(
                postgres_engine,
                "SELECT count(*) FROM group_members WHERE user_id = :id",
                id=user_id,
            )
            assert orphans == 0
            group = (await client.get(f"/groups/{group_id}")).json()
            assert group["member_count"] == 0
        assert service.connections_lent() == 0


async def test_two_groups_with_one_name_exactly_one_wins(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        for round_ in range(ROUNDS):
            names = spellings(f"team{round_}@example.com", 20, seed=round_)
            requests = [
                service.client.post("/groups", json={"name": name.split("@")[0]}) for name in names
            ]
            use_gate = postgres_engine if round_ % 2 == 0 else None
            responses = await gated(use_gate, requests, 8, "LOCK TABLE groups IN SHARE MODE")
            assert statuses(responses) == {201: 1, 409: 19}, [r.text for r in responses]
            for response in responses:
                if response.status_code == 409:
                    assert_problem(response, 409, "group_name_taken")
            stored = await scalar(
                postgres_engine,
                "SELECT count(*) FROM groups WHERE lower(name) = :name",
                name=f"team{round_}",
            )
            assert stored == 1
        assert service.connections_lent() == 0


async def test_a_user_deleted_while_leaving_or_joining_its_groups_never_deadlocks(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    """Deleting a user locks its groups before the user, as member changes lock their
    group first: removing the user from a group, adding it again, and deleting one of its
    groups, all at once with the user's deletion, end without a deadlock (no 503)."""
    async with serve(make_settings(postgres_url)) as service:
        client = service.client
        for round_ in range(ROUNDS * 2):
            created = await client.post(
                "/users", json={"email": f"leaving{round_}@example.com", "name": "L"}
            )
            user_id = created.json()["id"]
            groups = [await _group(client, f"Lock {round_}.{i}") for i in range(3)]
            for group_id in groups:
                await client.put(f"/groups/{group_id}/members/{user_id}")
            requests = [
                client.delete(f"/groups/{groups[0]}/members/{user_id}"),
                client.put(f"/groups/{groups[1]}/members/{user_id}"),
                client.delete(f"/groups/{groups[2]}"),
                client.delete(f"/users/{user_id}"),
            ]
            use_gate = postgres_engine if round_ % 2 == 0 else None
            responses = await gated(
                use_gate,
                requests,
                2,
                "SELECT id FROM groups WHERE id = ANY(:ids) FOR UPDATE",
                ids=groups,
            )
            assert {r.status_code for r in responses} <= {204}, [r.text for r in responses]
            for group_id in groups[:2]:
                group = (await client.get(f"/groups/{group_id}")).json()
                real = await scalar(
                    postgres_engine,
                    "SELECT count(*) FROM group_members WHERE group_id = :id",
                    id=group_id,
                )
                assert group["member_count"] == real == 0
        assert service.connections_lent() == 0
