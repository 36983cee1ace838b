"""Behind PgBouncer 1.18 in transaction mode (the tests' own, on a free port): with
`DB_PGBOUNCER=true` every answer is right under concurrency, on both execution paths,
and the timeouts still hold; without it, the service refuses to serve and says why."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from tests.reliability.test_database_faults import ANSWER_WITHIN
from tests.support import databases
from tests.support.databases import engine_for
from tests.support.engines import fresh_postgres_database, require_engine
from tests.support.install import Installed
from tests.support.pgbouncer import SHIPPED, PgBouncer, missing_reason, pgbouncer
from tests.support.reliability import assert_problem, figures, make_settings, serve
from tests.support.settings import IsolatedSettings
from tests.support.tcp_proxy import TcpProxy
from tests.support.timing import bound
from users_service.adapters.sqlalchemy.postgres import PostgresDatabase
from users_service.entrypoints.migrations import apply_role_settings

pytestmark = pytest.mark.postgres

CONCURRENT = 270
STATEMENT_TIMEOUT = 1.0
FIGURES = figures("pgbouncer (transaction mode)", dict[str, object]())


@pytest.fixture(scope="module")
async def role_timeouts(postgres_url: str) -> AsyncIterator[None]:
    """What `users-service migrate --role-settings` does, on the test database only."""
    await asyncio.to_thread(
        apply_role_settings,
        IsolatedSettings(database_url=postgres_url, db_statement_timeout=STATEMENT_TIMEOUT),
    )
    yield
    engine = engine_for(postgres_url)
    try:
        async with engine.begin() as connection:
            database = engine.url.database
            await connection.execute(
                text(f'ALTER ROLE postgres IN DATABASE "{database}" RESET ALL')
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def bouncer(postgres_url: str, role_timeouts: None) -> Iterator[PgBouncer]:
    """Started after the role settings: a server session takes them when it starts."""
    require_engine(missing_reason(), "PgBouncer")
    with pgbouncer(postgres_url, pool_size=5) as running:
        yield running


@pytest.fixture(scope="module")
def bouncer_url(bouncer: PgBouncer, postgres_url: str) -> str:
    return bouncer.url_for(postgres_url)


async def _mixed_load(client: httpx.AsyncClient, run: str) -> Counter[int]:
    seeded = await client.post(
        "/users/batch",
        json={"users": [{"email": f"seed{i}.{run}@example.com", "name": "S"} for i in range(20)]},
    )
    assert seeded.status_code == 201, seeded.text
    ids = [user["id"] for user in seeded.json()["items"]]

    async def one(i: int) -> httpx.Response:
        kind = i % 5
        if kind == 0:
            return await client.post(
                "/users", json={"email": f"u{i}.{run}@example.com", "name": "U"}
            )
        if kind == 1:
            return await client.get(f"/users/{ids[i % len(ids)]}")
        if kind == 2:
            return await client.get("/users", params={"limit": 10})
        if kind == 3:
            return await client.patch(f"/users/{ids[i % len(ids)]}", json={"name": f"N{i}"})
        return await client.post(
            "/users/batch",
            json={
                "users": [{"email": f"b{i}.{j}.{run}@example.com", "name": "B"} for j in range(5)]
            },
        )

    responses = await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
    for response in responses:
        assert response.status_code < 500, response.text
    return Counter(r.status_code for r in responses)


async def test_concurrent_requests_are_all_answered_right(
    bouncer_url: str, bouncer: PgBouncer
) -> None:
    settings = make_settings(bouncer_url, db_pgbouncer=True, db_pool_size=20)
    async with serve(settings) as service:
        counts = await _mixed_load(service.client, "load")
    assert set(counts) <= {200, 201}, counts
    assert "prepared statement" not in bouncer.log()
    FIGURES[f"{CONCURRENT} concurrent requests"] = dict(sorted(counts.items()))


async def test_the_shipped_configuration_serves_the_service(
    postgres_url: str, role_timeouts: None
) -> None:
    """deploy/kubernetes/pgbouncer.ini (Kubernetes and Compose), as shipped but for where it
    listens and what it points at: SCRAM with the password, transaction pooling, and
    startup parameters refused rather than dropped."""
    require_engine(missing_reason(), "PgBouncer")
    password = "shipped-config-password"
    with pgbouncer(postgres_url, pool_size=None, config_file=SHIPPED, password=password) as shipped:
        url = shipped.url_for(postgres_url, password)
        async with serve(make_settings(url, db_pgbouncer=True)) as service:
            assert (await service.client.get("/readyz")).status_code == 200
            counts = await _mixed_load(service.client, "shipped")
        assert set(counts) <= {200, 201}, counts
        assert "prepared statement" not in shipped.log()
        wrong = shipped.url_for(postgres_url, "not-the-password")
        async with serve(make_settings(wrong, db_pgbouncer=True), empty=False) as service:
            assert_problem(await service.client.get("/readyz"), 503)
        async with serve(make_settings(url, db_pgbouncer=False), empty=False) as service:
            assert_problem(await service.client.get("/users"), 503)
        assert "unsupported startup parameter" in shipped.log()
    FIGURES[f"{CONCURRENT} concurrent requests (shipped pgbouncer.ini)"] = dict(
        sorted(counts.items())
    )


async def test_without_the_setting_it_refuses_to_serve_and_says_why(
    bouncer_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(bouncer_url, db_pgbouncer=False)
    with caplog.at_level(logging.ERROR, logger="users_service"):
        async with serve(settings, empty=False) as service:
            ready = await service.client.get("/readyz")
            listed = await service.client.get("/users")
    assert_problem(ready, 503)
    assert_problem(listed, 503)
    assert "DB_PGBOUNCER" not in listed.text  # the operator's business, not the client's
    messages = [(r.name, r.getMessage()[:160]) for r in caplog.records]
    assert any("DB_PGBOUNCER=true" in m for _, m in messages), messages


async def test_a_pooler_that_drops_the_parameters_is_noticed_all_the_same(
    bouncer: PgBouncer, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Told to ignore them, PgBouncer accepts the startup parameters and drops them: then
    nothing fails by itself, and the service notices the pooler by the backend pid."""
    dropping = pgbouncer(
        postgres_url, ignore_startup_parameters="statement_timeout,lock_timeout,jit"
    )
    with dropping as lenient, caplog.at_level(logging.ERROR, logger="users_service"):
        settings = make_settings(lenient.url_for(postgres_url), db_pgbouncer=False)
        async with serve(settings, empty=False) as service:
            ready = await service.client.get("/readyz")
            created = await service.client.post(
                "/users", json={"email": "n@example.com", "name": "N"}
            )
    assert_problem(ready, 503)
    assert_problem(created, 503)
    logged = [r.getMessage() for r in caplog.records if "DB_PGBOUNCER=true" in r.getMessage()]
    assert len(logged) == 1, logged  # one line, however many attempts


async def test_direct_connections_are_not_mistaken_for_a_pooler(postgres_url: str) -> None:
    async with serve(make_settings(postgres_url, db_pgbouncer=False)) as service:
        assert (await service.client.get("/readyz")).status_code == 200


@pytest.mark.contract_bound
async def test_timeouts_hold_behind_pgbouncer(bouncer_url: str, postgres_url: str) -> None:
    """PgBouncer drops startup parameters: reads get statement_timeout from the role's
    settings, writes also from SET LOCAL in their transaction; a lock past it is a 503."""
    settings = make_settings(bouncer_url, db_pgbouncer=True, db_statement_timeout=STATEMENT_TIMEOUT)
    reader = await asyncpg.connect(databases.dsn(bouncer_url), statement_cache_size=0)
    try:
        assert await reader.fetchval("SHOW statement_timeout") == "1s"
        assert await reader.fetchval("SHOW jit") == "off"
    finally:
        await reader.close()
    async with serve(settings) as service:
        created = await service.client.post(
            "/users", json={"email": "held@example.com", "name": "H"}
        )
        assert created.status_code == 201
        user_id = created.json()["id"]
        holder = await asyncpg.connect(databases.dsn(postgres_url))
        try:
            async with holder.transaction():
                await holder.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
                started = time.monotonic()
                patched = await service.client.patch(f"/users/{user_id}", json={"name": "X"})
                elapsed = time.monotonic() - started
        finally:
            await holder.close()
    assert_problem(patched, 503)
    assert STATEMENT_TIMEOUT <= elapsed < STATEMENT_TIMEOUT + bound(1.5)
    FIGURES["PATCH behind a lock, statement timeout 1 s, answered 503 in, s"] = round(elapsed, 3)


async def test_a_vanished_prepared_statement_is_a_503_and_the_connection_is_dropped(
    postgres_url: str,
) -> None:
    """SQLSTATE 26000 (a pooler swapped the server under a cached statement): 503, the
    connection is discarded, and the next request works."""
    settings = make_settings(postgres_url, db_pool_size=1)
    async with serve(settings) as service:
        created = await service.client.post("/users", json={"email": "p@example.com", "name": "P"})
        user_id = created.json()["id"]
        assert (await service.client.get(f"/users/{user_id}")).status_code == 200
        database = service.database
        assert isinstance(database, PostgresDatabase)
        connection = await database.acquire()  # the pool's one connection
        await connection.execute("DEALLOCATE ALL")
        await database.release(connection, discard=False)
        gone = await service.client.get(f"/users/{user_id}")
        assert_problem(gone, 503)
        assert (await service.client.get(f"/users/{user_id}")).status_code == 200
        assert service.connections_lent() == 0


async def test_migrate_goes_direct_and_sets_the_role_timeouts(
    installed: Installed, bouncer: PgBouncer
) -> None:
    """`users-service migrate --role-settings`, as an operator runs it: DATABASE_URL names
    PgBouncer, DATABASE_MIGRATION_URL PostgreSQL itself."""
    async with fresh_postgres_database() as direct:
        env = installed.environment(
            DATABASE_URL=bouncer.url_for(direct),
            DATABASE_MIGRATION_URL=direct,
            DB_PGBOUNCER="true",
            DB_STATEMENT_TIMEOUT="3",
        )
        result = await asyncio.to_thread(installed.run, "migrate", "--role-settings", env=env)
        assert result.returncode == 0, result.stderr
        connection = await asyncpg.connect(databases.dsn(direct))
        try:
            settings = await connection.fetchval(
                "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = "
                "s.setdatabase WHERE d.datname = current_database() AND s.setrole = "
                "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
            )
            assert await connection.fetchval("SELECT count(*) FROM alembic_version") == 1
        finally:
            await connection.close()
        assert sorted(settings) == ["jit=off", "lock_timeout=3000", "statement_timeout=3000"]


@pytest.mark.contract_bound
async def test_a_silent_database_behind_pgbouncer_is_a_503_within_the_bound(
    proxied_url: str, proxy: TcpProxy
) -> None:
    """PgBouncer stays up while the database behind it falls silent (no reset, no answer):
    the statement timeout cannot reach it, so asyncpg's client-side `command_timeout`
    (DB_STATEMENT_TIMEOUT + 1 s) answers, as a 503, within the bound the direct tests hold
    a silent database to (test_database_faults.py: on SQLAlchemy's path the timeout can
    be met twice, in the statement and in the rollback that follows)."""
    require_engine(missing_reason(), "PgBouncer")
    statement_timeout = 1.0
    with pgbouncer(proxied_url, pool_size=5) as silent:
        settings = make_settings(
            silent.url_for(proxied_url),
            db_pgbouncer=True,
            db_statement_timeout=statement_timeout,
            db_pool_timeout=1.5,
        )
        async with serve(settings) as service:
            created = await service.client.post(
                "/users", json={"email": "quiet@example.com", "name": "Q"}
            )
            assert created.status_code == 201, created.text
            proxy.cut("blackhole")
            answers = []
            for method, path, body in (
                ("GET", f"/users/{created.json()['id']}", None),
                ("POST", "/users", {"email": "quiet2@example.com", "name": "Q"}),
            ):
                started = time.monotonic()
                response = await service.client.request(method, path, json=body)
                answers.append(time.monotonic() - started)
                assert_problem(response, 503)
            assert max(answers) < bound(ANSWER_WITHIN), answers
            proxy.restore()
    FIGURES["silent database behind PgBouncer, 503 after, s"] = [round(a, 2) for a in answers]


async def test_every_group_operation_behind_pgbouncer(bouncer_url: str, bouncer: PgBouncer) -> None:
    """The groups' rows of the contract, concurrently, through transaction pooling: the
    member count stays exact and no prepared statement goes astray."""
    settings = make_settings(bouncer_url, db_pgbouncer=True, db_pool_size=20)
    async with serve(settings) as service:
        client = service.client
        batch = await client.post(
            "/users/batch",
            json={"users": [{"email": f"g{i}@example.com", "name": "G"} for i in range(40)]},
        )
        ids = [user["id"] for user in batch.json()["items"]]
        group = (await client.post("/groups", json={"name": "Pooled"})).json()
        path = f"/groups/{group['id']}/members"
        puts = await asyncio.gather(*(client.put(f"{path}/{i}") for i in ids[:30]))
        assert {r.status_code for r in puts} == {204}
        changed = await client.post(path, json={"add": ids[30:], "remove": ids[:5]})
        assert changed.status_code == 200, changed.text
        assert changed.json()["group"]["member_count"] == 35
        page = await client.get(path, params={"limit": 10})
        assert [m["id"] for m in page.json()["items"]] == ids[5:15]
        expanded = await client.get("/users", params={"expand": "groups", "limit": 10})
        assert expanded.status_code == 200
        assert (await client.get(f"/users/{ids[7]}/groups")).json()["items"][0]["id"] == group["id"]
        renamed = await client.patch(f"/groups/{group['id']}", json={"description": "via pool"})
        assert renamed.json()["description"] == "via pool"
        assert (await client.delete(f"/users/{ids[7]}")).status_code == 204
        after = (await client.get(f"/groups/{group['id']}")).json()
        assert after["member_count"] == 34
        assert (await client.delete(f"/groups/{group['id']}")).status_code == 204
    assert "prepared statement" not in bouncer.log()
