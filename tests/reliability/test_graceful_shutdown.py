"""The drain of the installed server, with one worker and with two: SIGTERM while 16
batch requests are in flight.

"In flight" is made certain, not likely: each request is sent with `Expect: 100-continue`
and its body is held back until the server answers `100 Continue`, which uvicorn does only
when the app itself asks for the body. After SIGTERM:

- every worker answers `/readyz` with 503 at once: one keep-alive connection is pinned to
  each worker (told apart by the `pid` in the request's log line) and asked;
- for `DRAIN_SECONDS` the server still serves what reaches it, new connections included;
- then it stops accepting (one worker: connections are refused; with several, the
  supervisor keeps the shared listening socket, so this is not observable) and finishes
  what is in flight: half of the held requests send their bodies only then;
- every held request is answered (201, the whole batch stored), none is dropped, and
  the process exits 0 within DRAIN_SECONDS plus SHUTDOWN_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.databases import engine_for
from tests.support.engines import fresh_postgres_database
from tests.support.install import Installed
from tests.support.reliability import bearer_token, figures
from tests.support.server_process import ServerProcess, migrate, start
from tests.support.timing import bound
from tests.support.tokens import SECRET

DRAIN_SECONDS = bound(3.0)
SHUTDOWN_TIMEOUT = 20.0
IN_FLIGHT = 16
BATCH_SIZE = 200
SLACK = bound(5.0)  # process start-up and teardown around the documented bound

FIGURES = figures("graceful shutdown", dict[str, object]())


@dataclass
class Drained:
    server: ServerProcess
    workers: int
    database_url: str


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
async def drained(
    request: pytest.FixtureRequest, installed: Installed, tmp_path: Path
) -> AsyncIterator[Drained]:
    workers: int = request.param
    async with fresh_postgres_database() as url:
        env = installed.environment(
            DATABASE_URL=url,
            AUTH_JWT_SECRET=SECRET,
            LOG_LEVEL="INFO",
            DRAIN_SECONDS=str(DRAIN_SECONDS),
            SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
        )
        await asyncio.to_thread(migrate, installed, env)
        server = await asyncio.to_thread(
            start, installed, env, "--workers", str(workers), log=tmp_path / "server.log"
        )
        try:
            yield Drained(server, workers, url)
        finally:
            server.kill()


class Connection:
    """One HTTP/1.1 connection, kept open: it stays with the worker that accepted it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def read_response(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), bound(60))
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, content

    async def get(self, path: str, request_id: str) -> int:
        await self.send_head("GET", path, {"X-Request-ID": request_id})
        status, _, _ = await self.read_response()
        return status

    def close(self) -> None:
        self.writer.close()


async def hold_batch(port: int, batch: int) -> tuple[Connection, bytes]:
    """A batch request inside the app, its body not yet sent."""
    users = [{"email": f"b{batch}.{i}@example.com", "name": "Held"} for i in range(BATCH_SIZE)]
    body = json.dumps({"users": users}).encode()
    connection = await Connection.open(port)
    await connection.send_head(
        "POST",
        "/users/batch",
        {
            "Authorization": f"Bearer {bearer_token()}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Expect": "100-continue",
        },
    )
    interim = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), bound(10))
    assert interim.startswith(b"HTTP/1.1 100"), interim
    return connection, body


async def finish(held: tuple[Connection, bytes]) -> tuple[int, dict[str, str], bytes]:
    connection, body = held
    connection.writer.write(body)
    await connection.writer.drain()
    try:
        return await connection.read_response()
    finally:
        connection.close()


def _pid_of(server: ServerProcess, request_id: str) -> int:
    for line in server.output().splitlines():
        if line.startswith("{") and f'"request_id":"{request_id}"' in line:
            return int(json.loads(line)["pid"])
    raise AssertionError(f"no log line for {request_id}")


async def pin_one_connection_per_worker(server: ServerProcess, workers: int) -> list[Connection]:
    pinned: dict[int, Connection] = {}
    for attempt in range(200):  # bounded; the kernel spreads new connections over workers
        connection = await Connection.open(server.port)
        request_id = f"pin-{attempt}"
        assert await connection.get("/livez", request_id) == 200
        await asyncio.sleep(0.02)  # the request's log line is written after its answer
        pid = _pid_of(server, request_id)
        if pid in pinned:
            connection.close()
        else:
            pinned[pid] = connection
        if len(pinned) == workers:
            return list(pinned.values())
    pytest.fail(f"only {len(pinned)} of {workers} workers ever accepted a connection")


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


@pytest.mark.contract_bound  # exits 0 within DRAIN_SECONDS + SHUTDOWN_TIMEOUT
async def test_sigterm_drains_then_finishes_in_flight_work_and_exits_0(
    drained: Drained,
) -> None:
    server, workers = drained.server, drained.workers
    pinned = await pin_one_connection_per_worker(server, workers)
    held = [await hold_batch(server.port, batch) for batch in range(IN_FLIGHT)]

    server.process.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()

    # Every worker turns not-ready; the supervisor passes SIGTERM on within half a second.
    await asyncio.sleep(bound(0.7))
    readiness = [await c.get("/readyz", f"drain-ready-{i}") for i, c in enumerate(pinned)]
    assert readiness == [503] * workers

    # Still serving during the window: a new connection and a write are answered.
    fresh = await Connection.open(server.port)
    await fresh.send_head("GET", "/livez", {})
    assert (await fresh.read_response())[0] == 200
    fresh.close()
    early = await asyncio.gather(*(finish(h) for h in held[: IN_FLIGHT // 2]))
    assert time.monotonic() - signalled_at < DRAIN_SECONDS, "the window closed too soon"
    for connection in pinned:
        connection.close()

    # After the window: no new connections (one worker), in-flight work still finishes.
    # Each worker's window starts when the supervisor passes SIGTERM on (up to half a
    # second later), so the end of every window is read from the workers' own logs:
    # uvicorn logs "Shutting down" just before it marks open connections to close.
    await asyncio.sleep(max(0.0, DRAIN_SECONDS - (time.monotonic() - signalled_at)))
    for _ in range(round(bound(5.0) / 0.05)):  # bounded: 5 s at most (scaled)
        if server.output().count('"msg":"Shutting down"') >= workers:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"not every worker ended its drain window:\n{server.output()}")
    if workers == 1:
        for _ in range(round(bound(5.0) / 0.05)):  # bounded: 5 s at most (scaled)
            if await refuses_connections(server.port):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the server kept accepting connections after the drain window")
    assert server.process.poll() is None, "exited with requests still in flight"
    late = await asyncio.gather(*(finish(h) for h in held[IN_FLIGHT // 2 :]))

    for status, _, content in [*early, *late]:
        assert status == 201, content[:500]
        assert len(json.loads(content)["items"]) == BATCH_SIZE
    for _, headers, _ in late:
        assert headers["connection"] == "close"  # no keep-alive while shutting down

    exit_within = DRAIN_SECONDS + SHUTDOWN_TIMEOUT + SLACK
    code = await asyncio.to_thread(server.process.wait, exit_within)
    exited_after = time.monotonic() - signalled_at
    log = server.output()
    assert code == 0, log
    assert "Traceback" not in log, log

    engine = engine_for(drained.database_url)
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT count(*) FROM users"))).scalar_one()
    finally:
        await engine.dispose()
    assert stored == IN_FLIGHT * BATCH_SIZE
    FIGURES[f"{workers} worker(s): in flight at SIGTERM"] = len(held)
    FIGURES[f"{workers} worker(s): SIGTERM to exit 0, s"] = round(exited_after, 3)
