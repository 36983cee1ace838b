"""Database faults, injected with a TCP proxy between the app and PostgreSQL (the shared
server is never touched): the link cut while connections are pooled or in use, cut at
start-up, and a statement stuck behind a lock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.reliability import (
    Service,
    assert_unavailable,
    figures,
    make_settings,
    scalar,
    serve,
)
from tests.support.tcp_proxy import CutMode, TcpProxy
from tests.support.timing import bound

pytestmark = pytest.mark.postgres

# Figures the service promises (RELIABILITY.md, docs/api.md): the tests that hold
# it to them are marked contract_bound. Every bound, promised or not, is asserted scaled by
# TEST_TIME_FACTOR, as bound(...).
ANSWER_WITHIN = 5.0  # seconds: the contract's "503 within a few seconds, never a hang"
RECOVER_WITHIN = 2.0  # seconds after the link is back
# Short timeouts, so that a silent database is given up on well within ANSWER_WITHIN.
FAST = {"db_connect_timeout": 1.5, "db_pool_timeout": 1.5, "db_statement_timeout": 1.0}

FIGURES = figures("database faults", dict[str, object]())

# Every kind of request the API serves, with a body where it needs one.
REQUESTS: list[tuple[str, str, object]] = [
    ("GET", "/users/1", None),
    ("GET", "/users", None),
    ("POST", "/users", {"email": "down@example.com", "name": "Down"}),
    ("PATCH", "/users/1", {"name": "B"}),
    ("DELETE", "/users/1", None),
    ("POST", "/users/batch", {"users": [{"email": "downb@example.com", "name": "A"}]}),
]


# Guards, not figures.
HANG = 15.0  # seconds: an answer later than this is a hang, and fails the test
LIVE_WITHIN = 1.0  # seconds: /livez never waits on the database


async def timed(
    request: Callable[[], Awaitable[httpx.Response]],
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    task = asyncio.ensure_future(request())
    # Not wait_for: it would wait for the cancelled request, which may hang as well.
    done, _ = await asyncio.wait({task}, timeout=bound(HANG))
    if not done:
        task.cancel()
        pytest.fail(f"no answer within {bound(HANG)} s: the request hangs")
    return task.result(), time.monotonic() - started


async def assert_all_unavailable(service: Service) -> float:
    """Every database endpoint, and /readyz, answers 503 promptly, all of them at once;
    /livez answers 200 meanwhile. Returns the slowest answer, in seconds."""
    requests = [*REQUESTS, ("GET", "/readyz", None)]
    answers = await asyncio.gather(
        *(
            timed(lambda m=method, p=path, b=body: service.client.request(m, p, json=b))
            for method, path, body in requests
        ),
        timed(lambda: service.client.get("/livez")),
    )
    *database, (live, live_elapsed) = answers
    assert live.status_code == 200
    assert live_elapsed < bound(LIVE_WITHIN)  # liveness never waits on the database
    for (method, path, _), (response, elapsed) in zip(requests, database, strict=True):
        assert elapsed < bound(ANSWER_WITHIN), (method, path, elapsed)
        assert_unavailable(response)
    return max(elapsed for _, elapsed in database)


async def assert_recovers(service: Service, restored_at: float) -> float:
    """Polls until a read and a write succeed again; returns seconds since restore."""
    for attempt in itertools.count():
        assert time.monotonic() - restored_at < bound(RECOVER_WITHIN), "no recovery in time"
        ready, _ = await timed(lambda: service.client.get("/readyz"))
        assert ready.status_code in {200, 503}, ready.text
        if ready.status_code == 200:
            break
        assert attempt < 1000
        await asyncio.sleep(0.01)
    email = f"back{time.monotonic_ns()}@example.com"
    created, _ = await timed(
        lambda: service.client.post("/users", json={"email": email, "name": "Back"})
    )
    assert created.status_code == 201, created.text
    return time.monotonic() - restored_at


# ---- (a) database unreachable ------------------------------------------------------------


@pytest.mark.contract_bound
@pytest.mark.parametrize("mode", ["reset", "blackhole"])
async def test_cut_before_any_connection_gives_prompt_503s(
    proxied_url: str, proxy: TcpProxy, mode: CutMode
) -> None:
    settings = make_settings(proxied_url, **FAST)
    async with serve(settings, empty=False) as service:
        proxy.cut(mode)
        try:
            slowest = await assert_all_unavailable(service)
        finally:
            proxy.restore()  # also on failure: the engine is disposed over a live link
        FIGURES[f"slowest 503, cut ({mode}) before connecting, s"] = round(slowest, 3)
        recovered = await assert_recovers(service, time.monotonic())
        assert service.connections_lent() == 0
        FIGURES[f"recovery after restore ({mode}, idle), s"] = round(recovered, 3)


@pytest.mark.contract_bound
@pytest.mark.parametrize("mode", ["reset", "blackhole"])
async def test_cut_while_connections_are_pooled_gives_503_then_recovers(
    proxied_url: str, proxy: TcpProxy, mode: CutMode
) -> None:
    settings = make_settings(proxied_url, **FAST)
    async with serve(settings) as service:
        # Fill the pool with idle, established connections.
        warm = await asyncio.gather(*(service.client.get("/users") for _ in range(10)))
        assert {r.status_code for r in warm} == {200}
        pooled = service.database.use().idle
        assert pooled >= 1
        assert proxy.open_links == pooled
        proxy.cut(mode)
        # The pool hands out connections that are dead (reset) or mute (blackhole):
        # each request still answers 503, promptly, never 500, never a hang.
        try:
            slowest = max([await assert_all_unavailable(service) for _ in range(2)])
        finally:
            proxy.restore()
        FIGURES[f"slowest 503, cut ({mode}) with a warm pool, s"] = round(slowest, 3)
        recovered = await assert_recovers(service, time.monotonic())
        assert service.connections_lent() == 0
        FIGURES[f"recovery after restore ({mode}, pooled), s"] = round(recovered, 3)


# ---- (b) the link cut under load ---------------------------------------------------------


@pytest.mark.contract_bound
async def test_cut_under_write_load_loses_no_acknowledged_write(
    proxied_url: str, proxy: TcpProxy, postgres_engine: AsyncEngine
) -> None:
    workers = 8
    acknowledged: list[str] = []
    seen: Counter[str] = Counter()
    counter = itertools.count()
    stop = asyncio.Event()
    restored = asyncio.Event()
    restored_at = 0.0
    first_success_after_restore: float | None = None

    async def worker(service: Service, number: int) -> None:
        nonlocal first_success_after_restore
        while not stop.is_set():
            email = f"load{number}.{next(counter)}@example.com"
            cut_when_sent = proxy.is_cut
            response, _ = await timed(
                lambda email=email: service.client.post(
                    "/users", json={"email": email, "name": "L"}
                )
            )
            phase = "during" if cut_when_sent or proxy.is_cut else "outside"
            seen[f"{response.status_code} {phase}"] += 1
            if response.status_code == 201:
                acknowledged.append(response.json()["email"])
                if restored.is_set() and first_success_after_restore is None:
                    first_success_after_restore = time.monotonic()
            else:
                assert_unavailable(response)  # 503 with Retry-After; never a 500
                await asyncio.sleep(0.02)  # a polite client backs off a little

    settings = make_settings(proxied_url, **FAST)
    async with serve(settings) as service:
        tasks = [asyncio.create_task(worker(service, n)) for n in range(workers)]
        try:
            await wait_for_count(lambda: len(acknowledged) >= 100)
            before_cut = len(acknowledged)
            proxy.cut()
            cut_at = time.monotonic()
            await wait_for_count(lambda: seen["503 during"] >= 3 * workers)
            await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - cut_at)))  # ~2 s outage
            during_cut = len(acknowledged) - before_cut
            proxy.restore()
            restored_at = time.monotonic()
            restored.set()
            await wait_for_count(lambda: first_success_after_restore is not None, limit=2.5)
            after = len(acknowledged)
            await wait_for_count(lambda: len(acknowledged) >= after + 100)
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        assert first_success_after_restore is not None
        recovery = first_success_after_restore - restored_at
        assert recovery < bound(RECOVER_WITHIN)
        assert service.connections_lent() == 0

    assert not any(key.startswith("500") for key in seen), seen
    assert len(set(acknowledged)) == len(acknowledged)
    stored = await scalar(
        postgres_engine,
        "SELECT count(*) FROM users WHERE email = ANY(:emails)",
        emails=acknowledged,
    )
    assert stored == len(acknowledged), "an acknowledged write was lost"
    FIGURES["load: workers"] = workers
    FIGURES["load: acknowledged 201s (all stored)"] = len(acknowledged)
    FIGURES["load: 201s acknowledged while cut"] = during_cut
    FIGURES["load: answers"] = dict(seen)
    FIGURES["load: first 201 after restore, s"] = round(recovery, 3)
    FIGURES["load: outage, s"] = round(restored_at - cut_at, 3)


async def wait_for_count(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + bound(limit)
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# ---- (c) statement timeout ---------------------------------------------------------------


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("lock", "method", "body"),
    [
        ("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", "PATCH", {"name": "Blocked"}),
        ("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", "DELETE", None),
        ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", "GET", None),
        ("LOCK TABLE users IN ACCESS EXCLUSIVE MODE", "POST", None),
    ],
)
@pytest.mark.contract_bound
async def test_statement_behind_a_lock_times_out_with_503(
    postgres_url: str, lock: str, method: str, body: object
) -> None:
    timeout = 1.0
    async with serve(make_settings(postgres_url, db_statement_timeout=timeout)) as service:
        created = await service.client.post(
            "/users", json={"email": "locked@example.com", "name": "Locked"}
        )
        user_id = created.json()["id"]
        holder = await asyncpg.connect(_dsn(postgres_url))
        try:
            transaction = holder.transaction()
            await transaction.start()
            await holder.execute(lock, *([user_id] if "$1" in lock else []))
            path = "/users" if method == "POST" else f"/users/{user_id}"
            if method == "POST":
                body = {"email": "other@example.com", "name": "Other"}
            response, elapsed = await timed(lambda: service.client.request(method, path, json=body))
            await transaction.rollback()
        finally:
            await holder.close()
        assert_unavailable(response)
        # Not before the timeout; after it, only the slack (not the server's timer) scales.
        assert timeout <= elapsed < timeout + bound(1.5), elapsed
        assert service.connections_lent() == 0
        # Nothing half-done: the row is as it was, and the service answers at once again.
        after = await service.client.get(f"/users/{user_id}")
        assert after.status_code == 200
        assert after.json()["name"] == "Locked"
        assert after.json()["version"] == 1
        FIGURES[f"statement timeout {timeout}s, {method} answered 503 in, s"] = round(elapsed, 3)


# ---- pool exhausted, and a request cancelled while it waits --------------------------------


async def wait_for_lock_waiters(engine: AsyncEngine, expected: int) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'users-service' AND wait_event_type = 'Lock'"
    )
    await wait_for_async(lambda: scalar(engine, sql), expected)


async def wait_for_async(
    value: Callable[[], Awaitable[int]], expected: int, limit: float = 5.0
) -> None:
    deadline = time.monotonic() + bound(limit)
    while await value() < expected:
        assert time.monotonic() < deadline, f"never reached {expected}"
        await asyncio.sleep(0.01)


@pytest.mark.contract_bound
async def test_pool_exhausted_gives_503_within_the_pool_timeout(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    settings = make_settings(postgres_url, db_pool_size=2, db_max_overflow=0, db_pool_timeout=0.5)
    async with serve(settings) as service:
        created = await service.client.post("/users", json={"email": "p@example.com", "name": "P"})
        user_id = created.json()["id"]
        async with postgres_engine.connect() as holder:
            await holder.execute(
                text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": user_id}
            )
            # Both pooled connections end up waiting on the lock...
            blocked = [
                asyncio.ensure_future(
                    service.client.patch(f"/users/{user_id}", json={"name": f"N{i}"})
                )
                for i in range(2)
            ]
            await wait_for_lock_waiters(postgres_engine, 2)
            # ...so the next request finds none free, and says so in time.
            response, elapsed = await timed(lambda: service.client.get(f"/users/{user_id}"))
            await holder.rollback()
        assert_unavailable(response)
        assert 0.5 <= elapsed < 0.5 + bound(1.0), elapsed  # as for the statement timeout
        assert {r.status_code for r in await asyncio.gather(*blocked)} == {200}
        assert service.connections_lent() == 0
        FIGURES["pool exhausted (timeout 0.5 s): 503 in, s"] = round(elapsed, 3)


async def test_request_cancelled_while_waiting_leaks_no_connection(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        created = await service.client.post("/users", json={"email": "c@example.com", "name": "C"})
        user_id = created.json()["id"]
        async with postgres_engine.connect() as holder:
            await holder.execute(
                text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": user_id}
            )
            request = asyncio.ensure_future(
                service.client.patch(f"/users/{user_id}", json={"name": "Cancelled"})
            )
            await wait_for_lock_waiters(postgres_engine, 1)
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await request
            await holder.rollback()

        async def checked_out() -> int:
            return -service.connections_lent()  # reaches 0 when none is out

        await wait_for_async(checked_out, 0)
        after = await service.client.get(f"/users/{user_id}")
        assert after.json()["name"] == "C"
        assert after.json()["version"] == 1


# ---- (d) start-up with the database down -------------------------------------------------


@pytest.mark.contract_bound
async def test_starts_with_the_database_down_and_becomes_ready(
    proxied_url: str, proxy: TcpProxy
) -> None:
    proxy.cut()
    settings = make_settings(proxied_url, **FAST)
    async with serve(settings, empty=False) as service:  # the lifespan completes
        assert (await service.client.get("/livez")).status_code == 200
        assert_unavailable(await service.client.get("/readyz"))
        assert_unavailable(await service.client.get("/users"))
        proxy.restore()
        restored_at = time.monotonic()
        recovered = await assert_recovers(service, restored_at)
        FIGURES["ready after restore (started while down), s"] = round(recovered, 3)
        assert service.connections_lent() == 0
