"""NATS servers of the tests' own: `/usr/sbin/nats-server -js` on a free port with its
store in a temporary folder, so that a test can kill it and start it again on the same
port and store. And a reader of what a JetStream stream holds."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from tests.support.environment import clean_environment
from tests.support.server_process import free_port
from tests.support.timing import bound

BINARY = "/usr/sbin/nats-server"


def missing_reason() -> str | None:
    if not Path(BINARY).exists():
        return f"{BINARY} is not installed (Debian package nats-server)"
    return None


@dataclass
class NatsServer:
    folder: Path
    port: int = field(default_factory=free_port)
    options: tuple[str, ...] = ()  # more nats-server flags (--user, --pass, ...)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._close_log()
        log = self._log = (self.folder / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [
                BINARY,
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.folder),
                *self.options,
            ],
            cwd=self.folder,
            env=clean_environment(self.folder),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + bound(10)
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()


@contextmanager
def nats_server(folder: Path, *options: str) -> Iterator[NatsServer]:
    folder.mkdir(parents=True, exist_ok=True)
    server = NatsServer(folder, options=options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Received:
    subject: str
    msg_id: str | None
    event: dict[str, Any]


async def stream_contents(url: str, stream: str, **connect: Any) -> list[Received]:
    """Every message the stream holds, in stream order (`connect`: more of nats-py's
    connect arguments, such as `tls`)."""
    import nats

    client = await nats.connect(url, connect_timeout=2, **connect)
    try:
        js = client.jetstream()
        info = await js.stream_info(stream)
        received = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            received.append(
                Received(
                    message.subject,
                    (message.headers or {}).get("Nats-Msg-Id"),
                    orjson.loads(message.data or b"{}"),
                )
            )
        return received
    finally:
        await client.close()
