"""Group events end to end: API, outbox, relay and a JetStream stream of the test's own;
subject prefixes that let two deployments share one NATS server; and a stream made by an
earlier release, which gains the group subjects in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nats import connect as nats_connect
from nats.js.api import StreamConfig

from tests.reliability.test_events import STREAM, _settings
from tests.support import databases
from tests.support.events import drained, pending, published
from tests.support.nats import NatsServer, stream_contents
from tests.support.reliability import serve
from users_service.adapters.events.jetstream import StreamOfAnotherDeployment


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite", "memory"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def test_group_changes_arrive_in_commit_order(database_url: str, nats: NatsServer) -> None:
    async with serve(_settings(database_url, nats)) as service:
        client = service.client
        batch = await client.post(
            "/users/batch",
            json={"users": [{"email": f"{n}@example.com", "name": n} for n in ("ada", "bob")]},
        )
        ada, bob = (u["id"] for u in batch.json()["items"])
        created = (await client.post("/groups", json={"name": "Engineering"})).json()
        group_id = created["id"]
        assert (await client.put(f"/groups/{group_id}/members/{ada}")).status_code == 204
        assert (await client.put(f"/groups/{group_id}/members/{ada}")).status_code == 204
        changed = await client.post(
            f"/groups/{group_id}/members", json={"add": [bob], "remove": [ada]}
        )
        renamed = (await client.patch(f"/groups/{group_id}", json={"name": "Eng"})).json()
        assert (await client.delete(f"/users/{bob}")).status_code == 204
        assert (await client.delete(f"/groups/{group_id}")).status_code == 204
        await drained(service.container.unit_of_work())

    received = await published(nats.url, STREAM)
    events = [m.event for m in received if m.event["subject"] == str(group_id)]
    summary: list[tuple[str, Any]] = [(e["type"], e["data"]) for e in events]
    assert summary == [
        ("users.v1.group.created", created),
        ("users.v1.group.member_added", {"group_id": group_id, "user_id": ada, "group_version": 2}),
        ("users.v1.group.member_added", {"group_id": group_id, "user_id": bob, "group_version": 3}),
        (
            "users.v1.group.member_removed",
            {"group_id": group_id, "user_id": ada, "group_version": 3},
        ),
        ("users.v1.group.updated", renamed),
        (
            "users.v1.group.member_removed",
            {"group_id": group_id, "user_id": bob, "group_version": 5},
        ),
        ("users.v1.group.deleted", {"id": group_id, "version": 5}),
    ]
    assert changed.json()["group"]["version"] == 3
    assert events[4]["changedfields"] == "name"


async def test_two_deployments_with_their_own_prefixes_share_one_server(
    tmp_path: Path, nats: NatsServer
) -> None:
    staging = _settings(
        f"sqlite+aiosqlite:///{tmp_path / 'staging.db'}",
        nats,
        events_stream="STAGING",
        events_subject_prefix="staging.users",
    )
    production = _settings(
        f"sqlite+aiosqlite:///{tmp_path / 'production.db'}",
        nats,
        events_stream="PRODUCTION",
        events_subject_prefix="production.users",
    )
    for settings, name in ((staging, "Staging team"), (production, "Production team")):
        await databases.migrate(settings.database_url)
        async with serve(settings) as service:
            assert (await service.client.post("/groups", json={"name": name})).status_code == 201
            await service.client.post("/users", json={"email": "a@example.com", "name": "A"})
            await drained(service.container.unit_of_work())
    staged = await published(nats.url, "STAGING", prefix="staging.users")
    produced = await published(nats.url, "PRODUCTION", prefix="production.users")
    assert [m.event["type"] for m in staged] == [
        "staging.users.group.created",
        "staging.users.user.created",
    ]
    assert [m.event["data"].get("name") for m in produced] == ["Production team", "A"]


async def test_a_stream_of_an_earlier_release_gains_the_group_subjects(
    tmp_path: Path, nats: NatsServer
) -> None:
    client = await nats_connect(nats.url)
    try:
        js = client.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=["users.v1.user.>"]))
        await js.publish("users.v1.user.created.1", b'{"earlier": true}')
    finally:
        await client.close()
    settings = _settings(f"sqlite+aiosqlite:///{tmp_path / 'users.db'}", nats)
    await databases.migrate(settings.database_url)
    async with serve(settings) as service:
        assert (await service.client.post("/groups", json={"name": "New"})).status_code == 201
        await drained(service.container.unit_of_work())
    received = await stream_contents(nats.url, STREAM)
    assert [m.event.get("type", "earlier") for m in received] == [
        "earlier",
        "users.v1.group.created",
    ]
    client = await nats_connect(nats.url)
    try:
        config = (await client.jetstream().stream_info(STREAM)).config
    finally:
        await client.close()
    assert config.subjects == ["users.v1.user.>", "users.v1.group.>"]


async def test_a_stream_of_another_prefix_is_refused_not_widened(
    tmp_path: Path, nats: NatsServer
) -> None:
    """Two deployments that forgot to name their own streams: the second publishes
    nothing (its events wait in the outbox) rather than take over the first's stream."""
    client = await nats_connect(nats.url)
    try:
        await client.jetstream().add_stream(
            StreamConfig(name=STREAM, subjects=["staging.users.user.>", "staging.users.group.>"])
        )
    finally:
        await client.close()
    settings = _settings(f"sqlite+aiosqlite:///{tmp_path / 'users.db'}", nats)
    await databases.migrate(settings.database_url)
    async with serve(settings) as service:
        assert (await service.client.post("/groups", json={"name": "Waits"})).status_code == 201
        publisher = service.container.event_publisher()
        with pytest.raises(StreamOfAnotherDeployment, match="its own EVENTS_STREAM"):
            await publisher.connect()
        assert await pending(service.container.unit_of_work()) == 1
    client = await nats_connect(nats.url)
    try:
        config = (await client.jetstream().stream_info(STREAM)).config
    finally:
        await client.close()
    assert config.subjects == ["staging.users.user.>", "staging.users.group.>"]
