"""What change events cost `POST /users`, and how soon they are published.

In the same rounds as the create load, two more servers, started afresh just before their
run, twice a round in A B B A order:

- `no-events`: `EVENTS_ENABLED=false`, no outbox writes;
- `events`: the outbox written with every create (the production default) and the relay
  in process (`EVENTS_RELAY=inprocess`), publishing to the machine's NATS JetStream
  (`BENCH_NATS_URL`, default nats://127.0.0.1:4222) on a stream of the bench's own.

The bar: `events` keeps at least 0.85 of `no-events`' create throughput. After each
`events` run the relay is given time to publish what is left, and the time from each
event's change to its publication (`published_at - occurred_at` in the outbox: the change's
time before its statement, to the relay's mark after JetStream's acknowledgement) gives
the p50 and p99 of commit-to-publish latency under that load.

The service the other rounds measure writes its events too (the default) with no relay
running, as a deployment whose relay is down would: before each `events` run those are
marked published, so that the relay under test publishes only what its own load wrote.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import asyncpg

from config import Config

NO_EVENTS, EVENTS = "no-events", "events"
EVENTS_BAR = 0.85
STREAM = "USERS_BENCH"
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")


@dataclass(frozen=True, slots=True)
class Latency:
    events: int
    p50_ms: float
    p99_ms: float


def variants() -> list[tuple[str, dict[str, str]]]:
    return [
        (NO_EVENTS, {"EVENTS_ENABLED": "false"}),
        (
            EVENTS,
            {
                "EVENTS_ENABLED": "true",
                "EVENTS_RELAY": "inprocess",
                "NATS_URL": NATS_URL,
                "EVENTS_STREAM": STREAM,
            },
        ),
    ]


async def settle_outbox(config: Config) -> float:
    """Mark what no relay published as published; the database's time, for `since`."""
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        await connection.execute(
            "UPDATE outbox SET published_at = now() WHERE published_at IS NULL"
        )
        since: float = await connection.fetchval("SELECT extract(epoch FROM now())")
        return since
    finally:
        await connection.close()


async def latency(config: Config, since: float, timeout: float = 60.0) -> Latency:
    """Once the relay has published every event written since `since`: their latencies."""
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        deadline = time.monotonic() + timeout
        while await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL "
            "AND occurred_at >= to_timestamp($1)",
            since,
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the in-process relay did not drain the outbox in 60 s")
            await asyncio.sleep(0.2)
        row = await connection.fetchrow(
            "SELECT count(*), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY published_at - occurred_at), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY published_at - occurred_at) "
            "FROM outbox WHERE occurred_at >= to_timestamp($1)",
            since,
        )
    finally:
        await connection.close()
    count, p50, p99 = row
    if not count:
        return Latency(0, 0.0, 0.0)
    return Latency(count, p50.total_seconds() * 1000, p99.total_seconds() * 1000)
