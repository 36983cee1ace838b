"""The relay's own CPU per event, with no HTTP load: `.venv/bin/python bench/relay.py`.

Three runs, each on a fresh database `users_bench_relay` whose outbox holds
BENCH_RELAY_EVENTS pending `created` events (default 30,000), then relay rounds of
EVENTS_BATCH_SIZE (500) until it is empty, publishing to the machine's NATS
(BENCH_NATS_URL) on the bench's own stream, emptied first. Prints the relay process's
CPU time per event (user + system) and how it splits: reading the outbox, encoding and
publishing, marking; and PostgreSQL's and nats-server's CPU per event over the same time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.js.errors import NotFoundError

import database
import events
import servers
from config import Config
from events import NATS_URL
from users_service.adapters.events.jetstream import JetStreamPublisher
from users_service.adapters.sqlalchemy.outbox import SqlAlchemyOutbox
from users_service.entrypoints.container import container_for
from users_service.entrypoints.settings import Settings

DATABASE = "users_bench_relay"
STREAM = events.STREAM  # the bench's own (subjects may not overlap another stream's)
EVENTS = int(os.environ.get("BENCH_RELAY_EVENTS", 30_000))


def _cpu_of(prefix: str) -> float:
    """CPU seconds used so far by every process whose name starts with `prefix`."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith(prefix):
                total += servers.cpu_seconds(int(pid))
        except OSError:
            continue  # gone meanwhile
    return total


class _Timed:
    """CPU seconds spent in each wrapped coroutine method, by phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._originals: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, method: str, phase: str) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(owner, method)
        self._originals.append((owner, method, original))

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return await original(*args, **kwargs)
            finally:
                elapsed = time.process_time() - started
                self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed

        setattr(owner, method, timed)

    def restore(self) -> None:
        for owner, method, original in reversed(self._originals):
            setattr(owner, method, original)
        self._originals.clear()


async def _fresh(config: Config) -> None:
    await database.recreate(config)
    database.migrate(config)
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        await connection.execute(
            "INSERT INTO outbox (event_id, kind, user_id, version, email, name, created_at,"
            " updated_at, occurred_at) SELECT gen_random_uuid()::text, 'created', g, 1,"
            " 'u' || g || '@example.com', 'User ' || g, now(), now(), now()"
            " FROM generate_series(1, $1) g",
            EVENTS,
        )
    finally:
        await connection.close()
    client = await nats.connect(NATS_URL, connect_timeout=2)
    try:
        await client.jetstream().delete_stream(STREAM)
    except NotFoundError:
        pass
    finally:
        await client.close()


async def _measure(config: Config) -> dict[str, float]:
    await _fresh(config)
    settings = Settings(
        database_url=config.service_database_url,
        nats_url=NATS_URL,
        events_stream=STREAM,
        auth_disabled=True,
    )
    container = container_for(settings)
    relay = container.relay()
    timed = _Timed()
    timed.wrap(SqlAlchemyOutbox, "pending", "read")
    timed.wrap(SqlAlchemyOutbox, "mark_published", "mark")
    timed.wrap(JetStreamPublisher, "publish", "publish")
    try:
        await relay.round()  # connects, makes the stream; not counted
        timed.seconds.clear()
        others = _cpu_of("postgres"), _cpu_of("nats-server")
        started = time.process_time()
        published = 0
        while count := await relay.round():
            published += count
        cpu = time.process_time() - started
        postgres, nats_server = (
            _cpu_of("postgres") - others[0],
            _cpu_of("nats-server") - others[1],
        )
    finally:
        timed.restore()
        await container.event_publisher().close()
        await container.database().dispose()
    per_event = 1e6 / published
    return {
        "relay": cpu * per_event,
        **{phase: seconds * per_event for phase, seconds in timed.seconds.items()},
        "postgres": postgres * per_event,
        "nats-server": nats_server * per_event,
    }


async def main() -> None:
    config = dataclasses.replace(Config(), database=DATABASE)
    for _ in range(3):
        figures = await _measure(config)
        print("  ".join(f"{k} {v:5.1f} µs" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
