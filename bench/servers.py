"""Server processes: start, wait until they answer, sample memory, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

import auth
from config import BENCH_DIR, REPO_ROOT, RESULTS_DIR, VENV_BIN, Config


@dataclass(slots=True)
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}; see {self.log_path}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(name: str, argv: list[str], env: dict[str, str], port: int) -> Server:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS_DIR / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(name, port, process, log, log_path)


def start_service(
    config: Config,
    name: str = "service",
    database_url: str | None = None,
    wrapper: list[str] | None = None,
    **extra: str,
) -> Server:
    """`users-service serve`: uvicorn, 1 worker in-process, uvloop, httptools, no access log.
    `wrapper`: a command the server runs under (valgrind)."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env = {
        **inherited,
        **auth.service_env(config.auth, config.jwt_secret),
        "DATABASE_URL": database_url or config.service_database_url,
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    argv = [str(VENV_BIN / "users-service"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if wrapper:  # the console script is a Python file: run it by the venv's interpreter
        argv = [*wrapper, str(VENV_BIN / "python"), *argv]
    return _spawn(name, argv, env, port)


def start_ceiling(config: Config) -> Server:
    port = free_port()
    env = {**os.environ, "CEILING_DSN": config.bench_dsn, "CEILING_BATCH": config.ceiling_batch}
    argv = [str(VENV_BIN / "python"), str(BENCH_DIR / "ceiling.py"), "--port", str(port)]
    return _spawn("ceiling", argv, env, port)


async def wait_ready(
    server: Server, probe_path: str, headers: dict[str, str], timeout: float = 30.0
) -> None:
    """Poll until `probe_path` answers 200; any answer but 200 or 503 fails at once."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=2.0) as client:
        while True:
            server.check_alive()
            try:
                response = await client.get(probe_path)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                return
            if response is not None and response.status_code != 503:
                raise RuntimeError(
                    f"{server.name} answered GET {probe_path} with {response.status_code}: "
                    f"{response.text[:500]} (log: {server.log_path})"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.name} did not answer {probe_path} in {timeout}s")
            await asyncio.sleep(0.2)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


@dataclass(slots=True)
class RssSampler:
    """Samples a process's VmRSS while the load runs; keeps the peak."""

    pid: int
    interval: float = 0.1
    peak_kib: int = 0
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def _run(self) -> None:
        while True:
            try:
                self.peak_kib = max(self.peak_kib, memory_kib(self.pid).get("VmRSS", 0))
            except FileNotFoundError:
                return
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak_kib = max(self.peak_kib, memory_kib(self.pid).get("VmRSS", 0))
        return self.peak_kib
