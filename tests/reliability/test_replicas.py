"""Read replicas, on the tests' own primary and asynchronous streaming standby:
`DATABASE_REPLICA_URL` names the standby. Reads land there; a miss there is confirmed on
the primary; `Cache-Control: no-cache` and a replica past `DB_REPLICA_MAX_LAG` are served
by the primary; a stopped standby costs no failed request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import databases
from tests.support.engines import require_engine
from tests.support.reliability import figures, make_settings, serve
from tests.support.replication import Cluster, migrated_cluster, missing_reason
from tests.support.scrape import Scrape
from tests.support.timing import bound
from users_service.entrypoints.settings import Settings

pytestmark = pytest.mark.postgres  # PostgreSQL of their own; run on both execution paths
DATABASE = "users"
FIGURES = figures("read replicas", dict[str, object]())


async def _fetchval(url: str, query: str) -> object:
    connection = await asyncpg.connect(databases.dsn(url))
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def _replayed(cluster: Cluster, query: str) -> None:
    """Wait until `query` on the standby returns something true."""
    deadline = time.monotonic() + bound(15)
    while time.monotonic() < deadline:
        try:
            if await _fetchval(cluster.standby.url(DATABASE), query):
                return
        except asyncpg.PostgresError:
            pass  # the database itself may not be replayed yet
        await asyncio.sleep(0.05)
    raise AssertionError(f"the standby never replayed: {query}")


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    require_engine(missing_reason(), "PostgreSQL 15's binaries")
    async with migrated_cluster(DATABASE, synchronous=False) as running:
        await _replayed(running, "SELECT to_regclass('users') IS NOT NULL")
        yield running


def _settings(cluster: Cluster, **overrides: Any) -> Settings:
    return make_settings(
        cluster.primary.url(DATABASE),
        database_replica_url=cluster.standby.url(DATABASE),
        db_connect_timeout=1,
        **overrides,
    )


async def _create(client: httpx.AsyncClient, email: str) -> dict[str, object]:
    response = await client.post("/users", json={"email": email, "name": "Original"})
    assert response.status_code == 201, response.text
    user: dict[str, object] = response.json()
    return user


async def test_reads_land_on_the_standby(cluster: Cluster) -> None:
    """Made visible by a standby that is behind on purpose (replay paused, a lag bound
    generous enough to keep it): plain reads see its older copy, `no-cache` reads the
    primary's."""
    settings = _settings(cluster, db_replica_max_lag=60)
    async with serve(settings, empty=False) as service:
        user = await _create(service.client, "read@example.com")
        await _replayed(cluster, "SELECT 1 FROM users WHERE email = 'read@example.com'")
        await _fetchval(cluster.standby.url(DATABASE), "SELECT pg_wal_replay_pause()")
        patched = await service.client.patch(f"/users/{user['id']}", json={"name": "Renamed"})
        assert patched.status_code == 200
        for _ in range(10):
            read = await service.client.get(f"/users/{user['id']}")
            assert read.json()["name"] == "Original"  # the standby's copy
            listed = await service.client.get("/users", params={"email": "read@example.com"})
            assert [u["name"] for u in listed.json()["items"]] == ["Original"]
        fresh = await service.client.get(
            f"/users/{user['id']}", headers={"Cache-Control": "no-cache"}
        )
        assert fresh.json()["name"] == "Renamed"
        sessions = await _fetchval(
            cluster.standby.url(DATABASE),
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'users-service'",
        )
    assert isinstance(sessions, int)
    assert sessions >= 1
    FIGURES["service sessions on the standby while reading"] = sessions


async def test_with_replay_paused_a_fresh_user_is_still_found(cluster: Cluster) -> None:
    await _fetchval(cluster.standby.url(DATABASE), "SELECT pg_wal_replay_pause()")
    async with serve(_settings(cluster), empty=False) as service:
        user = await _create(service.client, "fresh@example.com")
        found = await service.client.get(f"/users/{user['id']}")
        assert found.status_code == 200
        assert found.json() == user
        listed = await service.client.get("/users", params={"email": "fresh@example.com"})
        assert listed.status_code == 200


async def test_no_cache_and_a_stale_replica_read_the_primary(cluster: Cluster) -> None:
    settings = _settings(cluster, db_replica_max_lag=0.5)
    async with serve(settings, empty=False) as service:
        user = await _create(service.client, "stale@example.com")
        await _replayed(cluster, f"SELECT 1 FROM users WHERE id = {int(user['id'])}")  # noqa: S608
        assert (await service.client.get(f"/users/{user['id']}")).status_code == 200
        caught_up = await _replica_metrics(service)
        assert caught_up == (1, 0)  # serving, and nothing left to replay
        await _fetchval(cluster.standby.url(DATABASE), "SELECT pg_wal_replay_pause()")
        patched = await service.client.patch(f"/users/{user['id']}", json={"name": "Renamed"})
        assert patched.status_code == 200
        fresh = await service.client.get(
            f"/users/{user['id']}", headers={"Cache-Control": "no-cache"}
        )
        assert fresh.json()["name"] == "Renamed"
        await asyncio.sleep(1.5)  # past the lag bound, and past the next lag measure
        read = await service.client.get(f"/users/{user['id']}")
        assert read.json()["name"] == "Renamed"  # the replica is behind: skipped
        serving, lag = await _replica_metrics(service)
    assert serving == 0
    assert lag > 0.5
    FIGURES["replica lag reported while replay was paused, s"] = round(lag, 2)


async def _replica_metrics(service: Any) -> tuple[float, float]:
    """`users_replica_serving` and `users_replica_lag_seconds`, as scraped."""
    service.app.state.metrics.sample_pools()
    page = Scrape((await service.client.get("/metrics")).text)
    return page.value("users_replica_serving"), page.value("users_replica_lag_seconds")


async def test_a_stopped_standby_costs_no_failed_request(cluster: Cluster) -> None:
    async with serve(_settings(cluster), empty=False) as service:
        user = await _create(service.client, "stop@example.com")
        await _replayed(cluster, f"SELECT 1 FROM users WHERE id = {int(user['id'])}")  # noqa: S608
        assert (await service.client.get(f"/users/{user['id']}")).status_code == 200
        await asyncio.to_thread(cluster.stop_abruptly, cluster.standby)
        statuses = []
        for _ in range(20):
            statuses.append((await service.client.get(f"/users/{user['id']}")).status_code)
            statuses.append((await service.client.get("/users")).status_code)
    assert statuses == [200] * 40, statuses


async def test_group_reads_land_on_the_standby_and_a_fresh_group_is_found(
    cluster: Cluster,
) -> None:
    """Group reads follow the users' rules: the standby's copy while it is within the lag
    bound, the primary's with `no-cache`, and a group the standby lacks is looked up on
    the primary before the answer is 404."""
    settings = _settings(cluster, db_replica_max_lag=60)
    async with serve(settings, empty=False) as service:
        client = service.client
        user = await _create(client, "member@example.com")
        group = (await client.post("/groups", json={"name": "Replicated"})).json()
        await _replayed(cluster, "SELECT 1 FROM groups WHERE name = 'Replicated'")
        await _fetchval(cluster.standby.url(DATABASE), "SELECT pg_wal_replay_pause()")
        assert (await client.put(f"/groups/{group['id']}/members/{user['id']}")).status_code == 204
        stale = await client.get(f"/groups/{group['id']}")
        assert stale.json()["member_count"] == 0  # the standby's copy
        members = await client.get(f"/groups/{group['id']}/members")
        assert members.json()["items"] == []
        fresh = await client.get(f"/groups/{group['id']}", headers={"Cache-Control": "no-cache"})
        assert fresh.json()["member_count"] == 1
        newer = (await client.post("/groups", json={"name": "Not there yet"})).json()
        found = await client.get(f"/groups/{newer['id']}")
        assert found.status_code == 200
        assert found.json() == newer
