"""Three installed service processes on one database, through the tests' own PgBouncer in
transaction mode: every race spread over the three has the single-process outcome, and
nothing a process keeps to itself (cursors, verified tokens) breaks another's answers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack

import httpx
import pytest

from tests.support.engines import fresh_postgres_database, require_engine
from tests.support.install import Installed
from tests.support.pgbouncer import PgBouncer, missing_reason, pgbouncer
from tests.support.reliability import bearer_token, figures
from tests.support.server_process import ServerProcess, migrate, start
from tests.support.tokens import SECRET

pytestmark = pytest.mark.postgres

INSTANCES = 3
RACERS = 30
FIGURES = figures("three instances behind PgBouncer", dict[str, object]())


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def bouncer(database: str) -> Iterator[PgBouncer]:
    require_engine(missing_reason(), "PgBouncer")
    with pgbouncer(database, pool_size=6) as running:
        yield running


@pytest.fixture(scope="module")
def instances(
    installed: Installed,
    bouncer: PgBouncer,
    database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[ServerProcess]]:
    env = installed.environment(
        DATABASE_URL=bouncer.url_for(database),
        DATABASE_MIGRATION_URL=database,
        DB_PGBOUNCER="true",
        DB_POOL_SIZE="4",
        AUTH_JWT_SECRET=SECRET,
        CURSOR_SECRET="one-secret-for-every-instance",
        LOG_LEVEL="WARNING",
    )
    migrate(installed, env)
    logs = tmp_path_factory.mktemp("instances")
    with ExitStack() as stack:
        servers = []
        for n in range(INSTANCES):
            server = start(installed, env, log=logs / f"instance-{n}.log")
            stack.callback(server.kill)
            servers.append(server)
        yield servers
        for server in servers:
            assert server.terminate() == 0, server.output()
            assert "Traceback" not in server.output()


@pytest.fixture
async def clients(instances: list[ServerProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per instance; request i goes to instance i mod 3."""
    headers = {"Authorization": f"Bearer {bearer_token()}"}
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=s.url, headers=headers, timeout=30)
            )
            for s in instances
        ]


def _spread(clients: list[httpx.AsyncClient], i: int) -> httpx.AsyncClient:
    return clients[i % len(clients)]


async def test_the_same_email_from_three_instances_gives_exactly_one_201(
    clients: list[httpx.AsyncClient],
) -> None:
    body = {"email": "race@example.com", "name": "Racer"}
    responses = await asyncio.gather(
        *(_spread(clients, i).post("/users", json=body) for i in range(RACERS))
    )
    counts = Counter(r.status_code for r in responses)
    assert counts == {201: 1, 409: RACERS - 1}, counts
    FIGURES["same email, 30 creates over 3 instances"] = dict(counts)


async def test_the_same_if_match_from_three_instances_has_one_winner(
    clients: list[httpx.AsyncClient],
) -> None:
    created = await clients[0].post("/users", json={"email": "ifm@example.com", "name": "A"})
    user_id = created.json()["id"]
    responses = await asyncio.gather(
        *(
            _spread(clients, i).patch(
                f"/users/{user_id}", json={"name": f"Writer {i}"}, headers={"If-Match": '"1"'}
            )
            for i in range(RACERS)
        )
    )
    counts = Counter(r.status_code for r in responses)
    assert counts == {200: 1, 412: RACERS - 1}, counts
    final = await clients[2].get(f"/users/{user_id}")
    assert final.json()["version"] == 2
    FIGURES["same If-Match, 30 patches over 3 instances"] = dict(counts)


async def test_one_idempotency_key_on_three_instances_stores_one_result(
    clients: list[httpx.AsyncClient],
) -> None:
    body = {"email": "idem@example.com", "name": "Once"}
    headers = {"Idempotency-Key": "spread-over-instances"}
    responses = await asyncio.gather(
        *(_spread(clients, i).post("/users", json=body, headers=headers) for i in range(RACERS))
    )
    counts = Counter(r.status_code for r in responses)
    assert set(counts) <= {201, 409}, counts
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1  # one user, replayed to the others
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "request_in_flight"
    again = await clients[1].post("/users", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    listed = await clients[2].get("/users", params={"email": "idem@example.com"})
    assert len(listed.json()["items"]) == 1
    FIGURES["one Idempotency-Key, 30 posts over 3 instances"] = dict(counts)


async def test_a_cursor_from_one_instance_pages_on_another(
    clients: list[httpx.AsyncClient],
) -> None:
    users = [{"email": f"page{i}@example.com", "name": "P"} for i in range(7)]
    assert (await clients[0].post("/users/batch", json={"users": users})).status_code == 201
    first = (await clients[0].get("/users", params={"limit": 3})).json()
    second = await clients[1].get("/users", params={"limit": 3, "cursor": first["next_cursor"]})
    assert second.status_code == 200
    third = await clients[2].get(
        "/users", params={"limit": 3, "cursor": second.json()["next_cursor"]}
    )
    assert third.status_code == 200
    ids = [u["id"] for page in (first, second.json(), third.json()) for u in page["items"]]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))


async def test_a_token_verified_by_one_instance_is_judged_afresh_by_another(
    clients: list[httpx.AsyncClient],
) -> None:
    good = await clients[0].get("/users")
    assert good.status_code == 200
    forged = {"Authorization": "Bearer " + bearer_token()[:-4] + "AAAA"}
    for client in clients:
        assert (await client.get("/users", headers=forged)).status_code == 401
