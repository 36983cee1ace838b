"""The installed service as a real server process on a free port."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.install import Installed
from tests.support.timing import TIME_FACTOR

READY_WITHIN = 30.0 * TIME_FACTOR


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status; killed (and failed) if it does not exit in time."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout * TIME_FACTOR)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def migrate(installed: Installed, env: dict[str, str]) -> None:
    result = installed.run("migrate", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def start(installed: Installed, env: dict[str, str], *args: str, log: Path) -> ServerProcess:
    """`users-service serve` on a free port, once `/readyz` answers 200."""
    port = free_port()
    with log.open("wb") as out:
        process = installed.popen("serve", "--port", str(port), *args, env=env, output=out)
    server = ServerProcess(process, port, log)
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.kill()
    raise AssertionError(f"the server did not become ready:\n{server.output()}")
