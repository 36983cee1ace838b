"""One wrk run: keep-alive connections, a Lua script, and the line its done() prints."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from config import LUA_DIR, RESULTS_DIR


@dataclass(frozen=True, slots=True)
class Load:
    """What to send: a Lua script (from bench/lua) and its arguments."""

    script: str
    args: tuple[str, ...]
    connections: int


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_us: int
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    first_failure: str

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def failures(self) -> int:
        return self.non2xx + self.socket_errors


def _parse(output: str) -> WrkResult:
    fields: dict[str, int] = {}
    first_failure = ""
    for line in output.splitlines():
        if line.startswith("BENCH_RESULT "):
            for pair in line.split()[1:]:
                key, _, value = pair.partition("=")
                fields[key] = int(float(value))
        elif line.startswith("BENCH_FIRST_FAILURE "):
            first_failure = line.removeprefix("BENCH_FIRST_FAILURE ")
    if not fields:
        raise RuntimeError(f"wrk printed no BENCH_RESULT line:\n{output}")
    return WrkResult(
        requests=fields["requests"],
        duration_us=fields["duration_us"],
        non2xx=fields["non2xx"],
        socket_errors=sum(fields[k] for k in ("connect", "read", "write", "timeout")),
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        first_failure=first_failure,
    )


async def run_wrk(
    url: str,
    load: Load,
    *,
    seconds: int,
    threads: int,
    timeout: float,
    headers: dict[str, str],
    log_name: str,
) -> WrkResult:
    argv = [
        "wrk",
        f"-t{min(threads, load.connections)}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        f"--timeout={timeout:g}s",
        "--latency",
        *(arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")),
        "-s",
        str(Path(LUA_DIR / load.script).resolve()),
        url,
        "--",
        *load.args,
    ]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await process.communicate()
    output = stdout.decode(errors="replace")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    shown = " ".join(
        a if not a.startswith("Authorization:") else "Authorization: ..." for a in argv
    )
    (RESULTS_DIR / f"{log_name}.txt").write_text(shown + "\n\n" + output)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{output}")
    return _parse(output)
