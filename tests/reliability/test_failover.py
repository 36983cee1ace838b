"""Failover: a primary and a synchronous streaming standby of the tests' own, the
service on a multi-host URL (`target_session_attrs=primary`). Under write load the primary
is stopped abruptly and the standby promoted: no 500, only 503 problems with Retry-After
in the gap, writes again within 5 s of the promotion with no restart, and every write
acknowledged with 201 is on the new primary."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.support import databases
from tests.support.engines import require_engine
from tests.support.reliability import figures, make_settings, serve
from tests.support.replication import Cluster, migrated_cluster, missing_reason
from tests.support.timing import bound

pytestmark = pytest.mark.postgres  # PostgreSQL of their own; run on both execution paths
WRITERS = 6
RESUMED_WITHIN = 5.0  # seconds from the promotion to the first 201 (a documented figure)
FIGURES = figures("failover (primary stopped abruptly, standby promoted)", dict[str, object]())
DATABASE = "users"


async def _wait_for_sync_standby(cluster: Cluster) -> None:
    connection = await asyncpg.connect(databases.dsn(cluster.primary.url("postgres")))
    try:
        deadline = time.monotonic() + bound(15)
        while time.monotonic() < deadline:
            state = await connection.fetchval(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'"
            )
            if state == "sync":
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the standby never became synchronous:\n{cluster.standby.log()}")
    finally:
        await connection.close()


async def _stop_waiting_for_a_standby(cluster: Cluster) -> None:
    """The promoted standby inherited `synchronous_standby_names` (it was a copy of the
    primary): with no standby of its own it would hold every commit. Clearing it is part
    of any promotion (PostgreSQL's rule, not the service's)."""
    connection = await asyncpg.connect(databases.dsn(cluster.standby.url("postgres")))
    try:
        await connection.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
        await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    require_engine(missing_reason(), "PostgreSQL 15's binaries")
    async with migrated_cluster(DATABASE, synchronous=True) as running:
        await _wait_for_sync_standby(running)
        yield running


@pytest.mark.contract_bound
async def test_failover_under_write_load_loses_no_acknowledged_write(cluster: Cluster) -> None:
    url = cluster.multi_host_url(DATABASE, target_session_attrs="primary")
    settings = make_settings(url, db_pool_size=WRITERS, db_connect_timeout=1)
    acknowledged: list[str] = []
    statuses: Counter[int] = Counter()
    unexpected: list[httpx.Response] = []
    promoted_at: float | None = None
    first_write_after: float | None = None
    stop = asyncio.Event()

    async def writer(client: httpx.AsyncClient, n: int) -> None:
        nonlocal first_write_after
        i = 0
        while not stop.is_set():
            email = f"w{n}.{i}@example.com"
            i += 1
            response = await client.post("/users", json={"email": email, "name": "W"})
            statuses[response.status_code] += 1
            if response.status_code == 201:
                acknowledged.append(email)
                if promoted_at is not None and first_write_after is None:
                    first_write_after = time.monotonic() - promoted_at
            elif response.status_code == 503:
                if not response.headers.get("retry-after", "").isdigit():
                    unexpected.append(response)
                await asyncio.sleep(0.02)
            else:
                unexpected.append(response)

    async with serve(settings, empty=False) as service:
        tasks = [asyncio.create_task(writer(service.client, n)) for n in range(WRITERS)]
        await asyncio.sleep(1.0)
        before = len(acknowledged)
        await asyncio.to_thread(cluster.stop_abruptly, cluster.primary)
        await asyncio.sleep(0.5)  # the gap: nothing is primary
        await asyncio.to_thread(cluster.promote, cluster.standby)
        promoted_at = time.monotonic()
        await _stop_waiting_for_a_standby(cluster)
        deadline = promoted_at + bound(RESUMED_WITHIN) + 2.0
        while first_write_after is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # keep writing on the new primary for a while
        stop.set()
        await asyncio.gather(*tasks)

    assert before > 0, "no write succeeded before the failover"
    assert statuses[500] == 0, statuses
    assert not unexpected, [(r.status_code, r.text[:200]) for r in unexpected[:3]]
    assert set(statuses) <= {201, 503}, statuses
    assert first_write_after is not None, f"writes never resumed: {statuses}"
    assert first_write_after < bound(RESUMED_WITHIN)

    new_primary = await asyncpg.connect(databases.dsn(cluster.standby.url(DATABASE)))
    try:
        assert not await new_primary.fetchval("SELECT pg_is_in_recovery()")
        stored = {row["email"] for row in await new_primary.fetch("SELECT email FROM users")}
    finally:
        await new_primary.close()
    missing = [email for email in acknowledged if email not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    FIGURES["201 / 503 during the run"] = f"{statuses[201]} / {statuses[503]}"
    FIGURES["first 201 after the promotion, s"] = round(first_write_after, 3)
    FIGURES["acknowledged writes, all on the new primary"] = len(acknowledged)


async def test_a_write_on_a_read_only_server_is_a_503_never_a_500(cluster: Cluster) -> None:
    """A connection that lands on a standby (SQLSTATE 25006): 503, connection discarded."""
    settings = make_settings(cluster.standby.url(DATABASE), db_pool_size=1)
    async with serve(settings, empty=False) as service:
        for _ in range(3):
            response = await service.client.post(
                "/users", json={"email": "ro@example.com", "name": "R"}
            )
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"].isdigit()
        assert (await service.client.get("/users")).status_code == 200  # reads still work
        assert service.connections_lent() == 0
