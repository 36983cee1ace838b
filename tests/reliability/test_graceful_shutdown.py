"""Graceful shutdown of the real server process: SIGTERM while requests are in flight.

"In flight" is made certain, not likely: each request is sent with `Expect: 100-continue`
and its body is held back until the server answers `100 Continue`, which uvicorn does only
when the app itself asks for the body. SIGTERM goes out while every one of them is inside
the app; only then are the bodies (three batches of 1,000 users and five single creates)
sent. Each must still succeed, no new connection may be accepted meanwhile, and the process
must exit with status 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.reliability.conftest import bearer_token, figures
from tests.support import databases
from tests.support.tokens import SECRET
from users_service.adapters.sqlalchemy import EngineOptions, create_engine

BIN = Path(sys.executable).parent
EXIT_WITHIN = 20.0  # seconds from SIGTERM to exit, in-flight work included
BATCHES = 3
BATCH_SIZE = 1000
SINGLES = 5

FIGURES = figures("graceful shutdown", dict[str, object]())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    url: str
    log: Path


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    await databases.migrate(url)
    port = _free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in {"AUTH_ISSUER", "AUTH_AUDIENCE"}}
    env = {
        **inherited,
        "DATABASE_URL": url,
        "AUTH_JWT_SECRET": SECRET,
        "AUTH_DISABLED": "false",
        "LOG_LEVEL": "INFO",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BIN / "users-service", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            for _ in range(300):  # bounded: 30 s at most
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"server never became ready:\n{log.read_text()}")
        yield Server(process, port, url, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class HeldRequest:
    """A request whose headers the app has accepted and whose body it is waiting for."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    body: bytes

    async def finish(self) -> tuple[int, dict[str, str], bytes]:
        self.writer.write(self.body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        content = await self.reader.readexactly(int(headers["content-length"]))
        self.writer.close()
        return int(status_line.split()[1]), headers, content


async def hold(port: int, path: str, payload: object) -> HeldRequest:
    body = json.dumps(payload).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {bearer_token()}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    return HeldRequest(reader, writer, body)


async def refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_sigterm_lets_in_flight_requests_finish_then_exits_0(server: Server) -> None:
    held = [
        *[
            await hold(
                server.port,
                "/users/batch",
                {
                    "users": [
                        {"email": f"b{b}.{i}@example.com", "name": f"Batch {b}"}
                        for i in range(BATCH_SIZE)
                    ]
                },
            )
            for b in range(BATCHES)
        ],
        *[
            await hold(server.port, "/users", {"email": f"s{i}@example.com", "name": "Single"})
            for i in range(SINGLES)
        ],
    ]

    server.process.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()
    # Draining: the listener closes at once (no new work), the held requests stay open.
    for _ in range(100):  # bounded: 5 s at most
        if await refuses_connections(server.port):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the server kept accepting connections after SIGTERM")
    assert server.process.poll() is None, "exited with requests still in flight"

    answers = await asyncio.gather(*(request.finish() for request in held))
    for status, headers, content in answers:
        assert status == 201, content[:500]
        assert headers["connection"] == "close"  # no keep-alive while draining
    batch_items = [json.loads(content)["items"] for _, _, content in answers[:BATCHES]]
    assert [len(items) for items in batch_items] == [BATCH_SIZE] * BATCHES

    code = await asyncio.to_thread(server.process.wait, EXIT_WITHIN)
    exited_after = time.monotonic() - signalled_at
    assert code == 0, server.log.read_text()
    log = server.log.read_text()
    assert "Traceback" not in log, log

    engine = create_engine(EngineOptions(url=server.url))
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT count(*) FROM users"))).scalar_one()
    finally:
        await engine.dispose()
    assert stored == BATCHES * BATCH_SIZE + SINGLES
    FIGURES["in flight at SIGTERM"] = len(held)
    FIGURES["users stored by them after SIGTERM"] = stored
    FIGURES["SIGTERM to exit 0, s"] = round(exited_after, 3)
