"""What observability costs, counted: the instructions the server executes per
`GET /users/{id}`, under callgrind (valgrind), for each variant of bench/observability.py.

Time measured under load moves with everything else the machine does: two runs of the
same server differ by up to 10% in CPU per request, more than the bars themselves. An
instruction count does not: the same requests, sent one at a time, give the same count to
within 0.2% (the requests are sequential so that how many arrive per event-loop turn
never varies). So this is the measure the bars are judged on; the wrk table beside it
shows what the same variants do under load.

Each variant's server starts under callgrind with instrumentation off (start-up at near
native speed), answers `WARMUP` GETs, then instrumentation goes on, `WARMUP` more, the
counters are zeroed, `REQUESTS` GETs are sent, and the counters are dumped: the total over
every thread of the process (the span exporter's included) divided by `REQUESTS`.
Variants run in A B C D D C B A order; each figure is the mean of its two runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

import observability
import servers
from config import RESULTS_DIR, Config

WARMUP = 300
REQUESTS = int(os.environ.get("BENCH_INSTRUCTION_REQUESTS", "1000"))


@dataclass(frozen=True, slots=True)
class Count:
    variant: str
    instructions_per_request: float


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


async def _get(base_url: str, ids: list[int], n: int, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for i in range(n):
            response = await client.get(f"/users/{ids[i % len(ids)]}")
            if response.status_code != 200:
                raise RuntimeError(f"GET answered {response.status_code}: {response.text[:300]}")


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=60)


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


async def _count_one(
    config: Config,
    variant: observability.Variant,
    ids: list[int],
    headers: dict[str, str],
    run: int,
) -> Count:
    out = RESULTS_DIR / f"callgrind-{variant.name}-{run}.out"
    for old in RESULTS_DIR.glob(f"{out.name}*"):
        old.unlink()
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    env = {**variant.env, "PYTHONHASHSEED": "0"}  # the same dict layouts every run
    server = servers.start_service(config, f"callgrind-{variant.name}", wrapper=wrapper, **env)
    try:
        await servers.wait_ready(server, f"/users/{ids[0]}", headers, timeout=180)
        await _get(server.base_url, ids, WARMUP, headers)
        _control("--instr=on", str(server.pid))
        await _get(server.base_url, ids, WARMUP, headers)
        _control("--zero", str(server.pid))
        await _get(server.base_url, ids, REQUESTS, headers)
        _control("--dump", str(server.pid))
        dumps = [p for p in RESULTS_DIR.glob(f"{out.name}.*") if p.suffix[1:].isdigit()]
        if not dumps:
            raise RuntimeError(f"callgrind wrote no dump for {variant.name}")
        return Count(variant.name, _total(max(dumps, key=lambda p: p.stat().st_mtime)) / REQUESTS)
    finally:
        servers.stop(server)


async def count(
    config: Config, lowest: int, highest: int, headers: dict[str, str], sink_port: int
) -> list[Count]:
    """Every variant twice, A B C D D C B A; the mean per variant, in variant order."""
    ids = list(range(lowest, min(highest, lowest + 999) + 1))
    variants = observability.variants(sink_port)
    runs: dict[str, list[float]] = {v.name: [] for v in variants}
    for run, variant in enumerate([*variants, *reversed(variants)]):
        counted = await _count_one(config, variant, ids, headers, run)
        runs[variant.name].append(counted.instructions_per_request)
        print(
            f"callgrind {variant.name:9} {counted.instructions_per_request:,.0f} instructions/GET",
            flush=True,
        )
    return [Count(name, sum(values) / len(values)) for name, values in runs.items()]
