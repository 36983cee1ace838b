"""Races, in process, against PostgreSQL and against the embedded SQLite file.

Half of the PostgreSQL rounds are gated: a transaction of the test's own blocks the
writes (a table or row lock) until every racing request is waiting on it, then lets
them all go at once, so the race is certain to happen rather than likely.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.reliability import (
    Service,
    assert_problem,
    count_email,
    figures,
    make_settings,
    scalar,
    serve,
    statuses,
)

CONCURRENT_CREATES = 50
CREATE_ROUNDS = 20
PATCH_ROUNDS = 20
BATCH_ROUNDS = 10
BATCH_SIZE = 50
SQLITE_CREATE_ROUNDS = 8
SQLITE_PATCH_ROUNDS = 10

FIGURES = figures("races (rounds and outcomes)", Counter[str]())
SLOWEST = figures("races (slowest round, seconds)", dict[str, float]())


def spellings(email: str, count: int, seed: int) -> list[str]:
    """`count` distinct case variants of `email` (the first three are the classic ones)."""
    local, _, domain = email.partition("@")
    rng = random.Random(seed)
    found = [
        f"{local.capitalize()}@{domain.capitalize()}",
        email.lower(),
        f"{local.upper()}@{domain}",
    ]
    letters = list(email)
    while len(found) < count:
        candidate = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in letters)
        if candidate not in found:
            found.append(candidate)
    return found


async def waiting_on_locks(engine: AsyncEngine) -> int:
    count: int = await scalar(
        engine,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'users-service' AND wait_event_type = 'Lock'",
    )
    return count


@asynccontextmanager
async def gate(
    engine: AsyncEngine, lock_sql: str, **params: Any
) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Holds `lock_sql` in an open transaction; `await until_waiting(n)` returns once n
    service connections wait on it. Leaving the block releases everyone at once."""
    async with engine.connect() as connection:
        await connection.execute(text(lock_sql), params)

        async def until_waiting(expected: int) -> None:
            for _ in range(500):  # bounded: 5 s at most
                if await waiting_on_locks(engine) >= expected:
                    return
                await asyncio.sleep(0.01)
            pytest.fail(f"{expected} requests never queued on the lock")

        try:
            yield until_waiting
        finally:
            await connection.rollback()


async def gated(
    engine: AsyncEngine | None,
    requests: list[Awaitable[httpx.Response]],
    waiters: int,
    lock_sql: str,
    **params: Any,
) -> list[httpx.Response]:
    """Run `requests` concurrently; when `engine` is given, behind a lock released only
    once `waiters` of them are blocked on it."""
    if engine is None:
        return list(await asyncio.gather(*requests))
    tasks: list[asyncio.Future[httpx.Response]] = []
    try:
        async with gate(engine, lock_sql, **params) as until_waiting:
            tasks = [asyncio.ensure_future(r) for r in requests]
            await until_waiting(waiters)
    finally:  # the gate is open again: every request finishes, even if the test failed
        await asyncio.gather(*tasks, return_exceptions=True)
    return [task.result() for task in tasks]


# ---- (a) one email, many spellings, many concurrent creates ------------------------------


async def race_creates(
    service: Service, rounds: int, db: AsyncEngine, *, gate_with: AsyncEngine | None
) -> None:
    pool = service.container.settings().db_pool_size + service.container.settings().db_max_overflow
    for round_ in range(rounds):
        email = f"race{round_}@example.com"
        names = spellings(email, CONCURRENT_CREATES, seed=round_)
        requests = [
            service.client.post("/users", json={"email": spelling, "name": f"Racer {i}"})
            for i, spelling in enumerate(names)
        ]
        use_gate = gate_with if round_ % 2 == 0 else None
        started = time.monotonic()
        responses = await gated(
            use_gate,
            requests,
            min(pool, CONCURRENT_CREATES),
            "LOCK TABLE users IN SHARE MODE",  # blocks INSERTs, not SELECTs
        )
        backend = service.database.dialect_name
        key = f"{backend}: slowest round of {CONCURRENT_CREATES} creates, s"
        SLOWEST[key] = round(max(SLOWEST.get(key, 0.0), time.monotonic() - started), 3)
        counts = statuses(responses)
        assert counts == {201: 1, 409: CONCURRENT_CREATES - 1}, (round_, counts)
        for response in responses:
            if response.status_code == 409:
                body = assert_problem(response, 409, "email_already_registered")
                assert [c["index"] for c in body["conflicts"]] == [0]
        [winner] = [r for r in responses if r.status_code == 201]
        assert winner.json()["email"].lower() == email
        assert await count_email(db, email) == 1
        FIGURES[f"{backend}: create rounds"] += 1
        FIGURES[f"{backend}: create rounds gated"] += use_gate is not None


@pytest.mark.postgres
async def test_concurrent_creates_of_one_email_postgres(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        await race_creates(service, CREATE_ROUNDS, postgres_engine, gate_with=postgres_engine)
        assert service.connections_lent() == 0


async def test_concurrent_creates_of_one_email_sqlite(sqlite_file_url: str) -> None:
    async with serve(make_settings(sqlite_file_url)) as service:
        await race_creates(service, SQLITE_CREATE_ROUNDS, service.engine, gate_with=None)


# ---- (b) two PATCHes with the same If-Match ---------------------------------------------


async def race_patches(
    service: Service, rounds: int, db: AsyncEngine, *, gate_with: AsyncEngine | None
) -> None:
    for round_ in range(rounds):
        created = await service.client.post(
            "/users", json={"email": f"patch{round_}@example.com", "name": "Original"}
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        names = [f"Left {round_}", f"Right {round_}"]
        requests = [
            service.client.patch(
                f"/users/{user_id}", json={"name": name}, headers={"If-Match": '"1"'}
            )
            for name in names
        ]
        use_gate = gate_with if round_ % 2 == 0 else None
        responses = await gated(
            use_gate,
            requests,
            2,
            "SELECT id FROM users WHERE id = :id FOR UPDATE",
            id=user_id,
        )
        assert statuses(responses) == {200: 1, 412: 1}, [r.text for r in responses]
        [winner] = [r for r in responses if r.status_code == 200]
        [loser] = [r for r in responses if r.status_code == 412]
        assert winner.json()["version"] == 2
        assert winner.headers["etag"] == '"2"'
        assert_problem(loser, 412, "precondition_failed")
        assert loser.headers["etag"] == '"2"'
        stored = (await service.client.get(f"/users/{user_id}")).json()
        assert stored["name"] == winner.json()["name"]
        assert stored["version"] == 2
        row_name = await scalar(db, "SELECT name FROM users WHERE id = :id", id=user_id)
        assert row_name == winner.json()["name"]
        backend = service.database.dialect_name
        FIGURES[f"{backend}: patch rounds"] += 1
        FIGURES[f"{backend}: patch rounds gated"] += use_gate is not None
        FIGURES[f"{backend}: patch won by {'first' if winner is responses[0] else 'second'}"] += 1


@pytest.mark.postgres
async def test_concurrent_patches_with_one_if_match_postgres(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        await race_patches(service, PATCH_ROUNDS, postgres_engine, gate_with=postgres_engine)
        assert service.connections_lent() == 0


async def test_concurrent_patches_with_one_if_match_sqlite(sqlite_file_url: str) -> None:
    async with serve(make_settings(sqlite_file_url)) as service:
        await race_patches(service, SQLITE_PATCH_ROUNDS, service.engine, gate_with=None)


# ---- (c) a batch racing single creates on overlapping emails -----------------------------


@pytest.mark.postgres
async def test_batch_racing_single_creates_is_all_or_nothing(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with serve(make_settings(postgres_url)) as service:
        engine = postgres_engine
        outcomes: Counter[str] = Counter()
        for round_ in range(BATCH_ROUNDS):
            emails = [f"b{i}.r{round_}@example.com" for i in range(BATCH_SIZE)]
            rng = random.Random(round_)
            overlap = sorted(rng.sample(range(BATCH_SIZE), 4))
            batch = service.client.post(
                "/users/batch",
                json={"users": [{"email": e, "name": "From batch"} for e in emails]},
            )
            singles = [
                service.client.post(
                    "/users", json={"email": emails[i].upper(), "name": "From single"}
                )
                for i in overlap
            ]
            # Even rounds: all of them queue behind a table lock and start together.
            # Odd rounds: free running, the batch sent first on round 1, 5, 9, last on 3, 7.
            if round_ % 2 == 0:
                responses = await gated(
                    engine, [batch, *singles], 1 + len(singles), "LOCK TABLE users IN SHARE MODE"
                )
            elif round_ % 4 == 1:
                responses = list(await asyncio.gather(batch, *singles))
            else:
                *rest, last = await asyncio.gather(*singles, batch)
                responses = [last, *rest]
            batch_response, single_responses = responses[0], responses[1:]
            assert 500 not in statuses(responses)

            from_batch = await scalar(
                engine,
                "SELECT count(*) FROM users WHERE name = 'From batch' AND email LIKE :pattern",
                pattern=f"%.r{round_}@example.com",
            )
            if batch_response.status_code == 201:
                outcomes["batch won"] += 1
                assert from_batch == BATCH_SIZE
                assert [u["email"] for u in batch_response.json()["items"]] == emails
                for response in single_responses:
                    assert_problem(response, 409, "email_already_registered")
            else:
                outcomes["singles won"] += 1
                body = assert_problem(batch_response, 409, "email_already_registered")
                assert from_batch == 0, f"partial batch stored in round {round_}"
                assert statuses(single_responses) == {201: len(overlap)}
                conflicts = {c["index"] for c in body["conflicts"]}
                assert conflicts <= set(overlap)
                assert conflicts  # names at least one of the emails it lost
            for i in overlap:
                assert await count_email(engine, emails[i]) == 1
            total = await scalar(
                engine,
                "SELECT count(*) FROM users WHERE email ILIKE :pattern",
                pattern=f"%.r{round_}@example.com",
            )
            assert total == (BATCH_SIZE if batch_response.status_code == 201 else len(overlap))
        FIGURES.update({f"postgresql: batch race, {k}": v for k, v in outcomes.items()})
        assert service.connections_lent() == 0
