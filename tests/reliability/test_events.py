"""Change events end to end: writes through the API, the outbox, the relay, and a NATS
JetStream stream of the test's own."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats import connect as nats_connect

from tests.support.environment import clean_environment
from tests.support.events import assert_ordered_per_user, by_user, drained, pending, published
from tests.support.nats import NatsServer, stream_contents
from tests.support.reliability import figures, make_settings, serve
from tests.support.scrape import Scrape
from tests.support.settings import relay_settings_with
from users_service.adapters.events.jetstream import JetStreamPublisher
from users_service.application.relay import OutboxRelay, RelaySettings
from users_service.entrypoints.settings import Settings

FIGURES = figures("events", {})
STREAM = "USERS_TEST"
CONSUMER = Path(__file__).resolve().parents[2] / "docs" / "events" / "consumer.py"


def _settings(database_url: str, nats: NatsServer, **overrides: Any) -> Settings:
    chosen = {
        "nats_url": nats.url,
        "events_stream": STREAM,
        "events_relay": "inprocess",
        "events_poll_max": 0.2,
        **overrides,
    }
    return make_settings(database_url, **chosen)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite", "memory"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Where the outbox lives; with the memory backend only the in-process relay sees it."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def test_every_change_arrives_once_in_order_as_the_api_shows_it(
    database_url: str, nats: NatsServer
) -> None:
    async with serve(_settings(database_url, nats)) as service:
        client = service.client
        ada = await client.post("/users", json={"email": "ada@example.com", "name": "Ada"})
        assert ada.status_code == 201
        batch = await client.post(
            "/users/batch",
            json={
                "users": [
                    {"email": "bob@example.com", "name": "Bob"},
                    {"email": "cy@example.com", "name": "Cy"},
                ]
            },
        )
        assert batch.status_code == 201, batch.text
        bob, cy = batch.json()["items"] if "items" in batch.json() else batch.json()["users"]
        ada_id = ada.json()["id"]
        renamed = await client.patch(
            f"/users/{ada_id}",
            json={"email": "ada@example.org", "name": "Ada L"},
            headers={"If-Match": '"1"'},
        )
        assert renamed.status_code == 200
        bob_renamed = await client.patch(f"/users/{bob['id']}", json={"name": "Robert"})
        assert bob_renamed.status_code == 200
        assert (await client.delete(f"/users/{cy['id']}")).status_code == 204
        await drained(service.container.unit_of_work())

    received = await published(nats.url, STREAM)
    assert_ordered_per_user(received)
    events = by_user(received)
    assert [(e["type"], e["data"]) for e in events[ada_id]] == [
        ("users.v1.user.created", ada.json()),
        ("users.v1.user.updated", renamed.json()),
    ]
    assert events[ada_id][1]["changedfields"] == "email,name"
    assert [(e["type"], e["data"]) for e in events[bob["id"]]] == [
        ("users.v1.user.created", bob),
        ("users.v1.user.updated", bob_renamed.json()),
    ]
    assert events[bob["id"]][1]["changedfields"] == "name"
    assert [(e["type"], e["data"]) for e in events[cy["id"]]] == [
        ("users.v1.user.created", cy),
        ("users.v1.user.deleted", {"id": cy["id"], "version": 1}),
    ]
    assert {e["source"] for e in (m.event for m in received)} == {"users-service"}


async def test_changes_that_do_not_stand_publish_nothing(
    database_url: str, nats: NatsServer
) -> None:
    async with serve(_settings(database_url, nats)) as service:
        client = service.client
        ada = (await client.post("/users", json={"email": "ada@example.com", "name": "A"})).json()
        bob = (await client.post("/users", json={"email": "bob@example.com", "name": "B"})).json()
        refused = [
            await client.post("/users", json={"email": "ADA@example.com", "name": "A"}),
            await client.post(
                "/users/batch",
                json={
                    "users": [
                        {"email": "new@example.com", "name": "N"},
                        {"email": "bob@example.com", "name": "B"},
                    ]
                },
            ),
            await client.patch(
                f"/users/{ada['id']}", json={"name": "X"}, headers={"If-Match": '"9"'}
            ),
            await client.patch(f"/users/{ada['id']}", json={"email": "bob@example.com"}),
            await client.delete(f"/users/{bob['id']}", headers={"If-Match": '"9"'}),
        ]
        assert [r.status_code for r in refused] == [409, 409, 412, 409, 412]
        unchanged = await client.patch(f"/users/{ada['id']}", json={"name": "A"})
        assert unchanged.status_code == 200
        key = {"Idempotency-Key": "k-1"}
        first = await client.post(
            "/users", json={"email": "cy@example.com", "name": "C"}, headers=key
        )
        again = await client.post(
            "/users", json={"email": "cy@example.com", "name": "C"}, headers=key
        )
        assert (first.status_code, again.status_code) == (201, 201)
        await drained(service.container.unit_of_work())

    received = await published(nats.url, STREAM)
    assert [(m.event["type"], m.event["subject"]) for m in received] == [
        ("users.v1.user.created", str(ada["id"])),
        ("users.v1.user.created", str(bob["id"])),
        ("users.v1.user.created", str(first.json()["id"])),
    ]


async def test_redacted_events_carry_ids_and_versions_only(
    postgres_url: str, nats: NatsServer
) -> None:
    async with serve(_settings(postgres_url, nats, events_redact=True)) as service:
        ada = await service.client.post("/users", json={"email": "ada@example.com", "name": "A"})
        await drained(service.container.unit_of_work())
    [message] = await published(nats.url, STREAM)
    assert message.event["data"] == {"id": ada.json()["id"], "version": 1}
    assert "ada@example.com" not in str(message.event)


class _CrashAfterPublishing:
    """A relay that dies between the broker's acknowledgement and marking the outbox."""

    def __init__(self, inner: JetStreamPublisher) -> None:
        self._inner = inner

    async def connect(self) -> None:
        await self._inner.connect()

    async def publish(self, events: Any) -> list[int]:
        await self._inner.publish(events)
        raise RuntimeError("killed before marking")

    async def close(self) -> None:
        await self._inner.close()


def _publisher(settings: Settings) -> JetStreamPublisher:
    return JetStreamPublisher(
        settings.nats_url,
        settings.events_stream,
        source=settings.events_source,
        redact=False,
        max_age=3600,
        duplicate_window=120,
        timeout=settings.events_publish_timeout,
    )


async def test_a_relay_killed_before_marking_publishes_again_with_the_same_ids(
    postgres_url: str, nats: NatsServer
) -> None:
    settings = _settings(postgres_url, nats, events_relay="external")
    async with serve(settings) as service:
        for i in range(5):
            created = await service.client.post(
                "/users", json={"email": f"u{i}@example.com", "name": "U"}
            )
            assert created.status_code == 201
        uow = service.container.unit_of_work()
        clock = service.container.clock()
        crashing = _CrashAfterPublishing(_publisher(settings))
        with pytest.raises(RuntimeError, match="killed before marking"):
            await OutboxRelay(uow, crashing, clock, relay_settings_with()).round()
        await crashing.close()
        assert await pending(uow) == 5  # nothing was marked
        first_copies = await stream_contents(nats.url, STREAM)
        assert len(first_copies) == 5

        restarted = _publisher(settings)
        assert await OutboxRelay(uow, restarted, clock, relay_settings_with()).round() == 5
        await restarted.close()
        assert await pending(uow) == 0
    again = await published(nats.url, STREAM)
    # The second publication carried the same ids: JetStream dropped every duplicate.
    assert [m.event["id"] for m in again] == [m.event["id"] for m in first_copies]


async def _update_load(
    client: httpx.AsyncClient, ids: list[int], rounds: int, acknowledged: list[int]
) -> None:
    """PATCHes spread over `ids`, a few at a time; records each acknowledged user id."""

    async def one(user_id: int, n: int) -> None:
        response = await client.patch(f"/users/{user_id}", json={"name": f"name {n}"})
        assert response.status_code == 200, response.text
        acknowledged.append(user_id)

    counter = itertools.count()
    for _ in range(rounds):
        await asyncio.gather(*(one(user_id, next(counter)) for user_id in ids))


async def test_two_relays_keep_order_and_lose_nothing(postgres_url: str, nats: NatsServer) -> None:
    settings = _settings(postgres_url, nats, events_relay="external", events_batch_size=7)
    async with serve(settings) as service:
        ids = []
        for i in range(6):
            created = await service.client.post(
                "/users", json={"email": f"r{i}@example.com", "name": "R"}
            )
            ids.append(created.json()["id"])
        uow = service.container.unit_of_work()
        clock = service.container.clock()
        stop = asyncio.Event()
        relays = [
            OutboxRelay(uow, _publisher(settings), clock, _relay_settings(7)) for _ in range(2)
        ]
        running = [asyncio.create_task(r.run(stop)) for r in relays]
        acknowledged: list[int] = []
        await _update_load(service.client, ids, 15, acknowledged)
        await drained(uow)
        stop.set()
        await asyncio.gather(*running)
        for relay in relays:
            await relay._publisher.close()
    received = await published(nats.url, STREAM)
    assert_ordered_per_user(received)
    assert len(received) == len(ids) + len(acknowledged)
    # One leads at a time: no event was published by both (JetStream would have dropped
    # the second copy, within its window; beyond it, order would be at risk).
    assert sum(r.published for r in relays) == len(received)
    FIGURES["two relays: events published by each"] = [r.published for r in relays]


def _relay_settings(batch: int) -> RelaySettings:
    return relay_settings_with(batch_size=batch, poll_max=0.1)


async def test_the_broker_killed_under_write_load_loses_nothing(
    database_url: str, nats: NatsServer
) -> None:
    async with serve(_settings(database_url, nats)) as service:
        ids = []
        for i in range(5):
            created = await service.client.post(
                "/users", json={"email": f"k{i}@example.com", "name": "K"}
            )
            ids.append(created.json()["id"])
        uow = service.container.unit_of_work()
        await drained(uow)
        acknowledged: list[int] = []
        await _update_load(service.client, ids, 5, acknowledged)
        nats.kill()
        await _update_load(service.client, ids, 10, acknowledged)  # writes keep succeeding
        await asyncio.sleep(0.5)
        backlog_while_down = await pending(uow)
        assert backlog_while_down > 0
        ready = await service.client.get("/readyz")  # ready all the same, saying what waits
        assert ready.status_code == 200
        outbox = ready.json()["outbox"]
        assert outbox["pending"] == backlog_while_down
        assert outbox["oldest_age_seconds"] > 0
        page = Scrape((await service.client.get("/metrics")).text)
        assert page.value("users_outbox_pending") == backlog_while_down
        nats.start()  # the same port and store
        await drained(uow, seconds=30)
    received = await published(nats.url, STREAM)
    assert_ordered_per_user(received)
    assert len(received) == len(ids) + len(acknowledged)
    FIGURES["broker down: outbox backlog, then all delivered"] = backlog_while_down


async def test_the_readme_consumer_follows_the_stream(
    postgres_url: str, nats: NatsServer, tmp_path: Path
) -> None:
    async with serve(_settings(postgres_url, nats)) as service:
        ada = (
            await service.client.post("/users", json={"email": "a@example.com", "name": "A"})
        ).json()
        group = (await service.client.post("/groups", json={"name": "G"})).json()
        await service.client.put(f"/groups/{group['id']}/members/{ada['id']}")
        await service.client.patch(f"/users/{ada['id']}", json={"name": "B"})
        await service.client.delete(f"/users/{ada['id']}")
        await drained(service.container.unit_of_work())
    consumer = subprocess.Popen(
        [sys.executable, str(CONSUMER), nats.url, STREAM],
        cwd=tmp_path,
        env=clean_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert consumer.stdout is not None
    try:
        lines = [await asyncio.to_thread(consumer.stdout.readline) for _ in range(6)]
    finally:
        consumer.kill()
        consumer.wait()
        consumer.stdout.close()
    user, group_id = ada["id"], group["id"]
    # In order per user and per group (the two chains may interleave either way).
    assert [line for line in lines if ".user." in line] == [
        f"users.v1.user.created {user} 1\n",
        f"users.v1.user.updated {user} 2\n",
        f"users.v1.user.deleted {user} 2\n",
    ]
    assert [line for line in lines if ".group." in line] == [
        f"users.v1.group.created {group_id} 1\n",
        f"users.v1.group.member_added {group_id} 2\n",
        f"users.v1.group.member_removed {group_id} 3\n",
    ]


def _relay_process(database_url: str, nats: NatsServer, folder: Path) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    env = clean_environment(
        folder,
        DATABASE_URL=database_url,
        NATS_URL=nats.url,
        EVENTS_STREAM=STREAM,
        EVENTS_POLL_MAX="0.2",
        LOG_LEVEL="WARNING",
    )
    with (folder / "relay.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "users_service.entrypoints.cli", "relay"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_a_killed_relay_is_taken_over_within_ten_seconds(
    postgres_url: str, nats: NatsServer, tmp_path: Path
) -> None:
    settings = _settings(postgres_url, nats, events_relay="external")
    relays = [_relay_process(postgres_url, nats, tmp_path / f"relay{i}") for i in range(2)]
    try:
        async with serve(settings) as service:
            ids = []
            for i in range(4):
                created = await service.client.post(
                    "/users", json={"email": f"t{i}@example.com", "name": "T"}
                )
                ids.append(created.json()["id"])
            uow = service.container.unit_of_work()
            await drained(uow)
            acknowledged: list[int] = []
            load = asyncio.create_task(_update_load(service.client, ids, 250, acknowledged))
            while len(acknowledged) < 40:  # under way: some changes in, most to come
                await asyncio.sleep(0.01)
            assert not load.done()
            relays[0].kill()  # SIGKILL, under load: no clean exit, whatever it held
            relays[0].wait()
            await load
            await drained(uow, seconds=10)
            started = time.monotonic()  # one more change: how soon the survivor publishes it
            await _update_load(service.client, ids[:1], 1, acknowledged)
            await drained(uow, seconds=10)
            takeover = time.monotonic() - started
    finally:
        for relay in relays:
            relay.kill()
            relay.wait()
    received = await published(nats.url, STREAM)
    assert_ordered_per_user(received)
    assert len(received) == len(ids) + len(acknowledged)
    FIGURES["relay killed under load: seconds from a later change to its publication"] = round(
        takeover, 2
    )


async def test_the_stream_is_made_as_configured_and_published_events_are_purged(
    database_url: str, nats: NatsServer
) -> None:
    settings = _settings(
        database_url,
        nats,
        events_relay="external",
        events_stream_max_age=3600,
        events_duplicate_window=30,
    )
    async with serve(settings) as service:
        for i in range(3):
            await service.client.post("/users", json={"email": f"p{i}@example.com", "name": "P"})
        uow, clock = service.container.unit_of_work(), service.container.clock()
        kept = OutboxRelay(uow, service.container.event_publisher(), clock, _relay_settings(10))
        assert await kept.round() == 3
        assert await kept.purge() == 0  # published just now: within a day's retention
        purging = OutboxRelay(
            uow, service.container.event_publisher(), clock, relay_settings_with(retention=0)
        )
        assert await purging.purge() == 3
        assert await pending(uow) == 0
        await service.container.event_publisher().close()
    client = await nats_connect(nats.url)
    try:
        config = (await client.jetstream().stream_info(STREAM)).config
    finally:
        await client.close()
    assert config.subjects == ["users.v1.user.>", "users.v1.group.>"]
    assert (config.max_age, config.duplicate_window) == (3600, 30)
