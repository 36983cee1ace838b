"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg")


@dataclass(frozen=True, slots=True)
class Machine:
    date: str
    nproc: int
    cpu: str
    kernel: str
    python: str
    postgres: str
    wrk: str
    packages: str
    load_before: str
    commit: str


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _wrk_version() -> str:
    result = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _package_versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (missing)")
    return ", ".join(found)


def load_average() -> str:
    """1, 5 and 15 minute load averages: other work on the box skews the figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def describe(postgres_version: str, load_before: str) -> Machine:
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        nproc=len(os.sched_getaffinity(0)),
        cpu=_cpu_model(),
        kernel=f"{platform.system()} {platform.release()}",
        python=f"{platform.python_implementation()} {platform.python_version()}",
        postgres=postgres_version.split(" on ")[0],
        wrk=_wrk_version(),
        packages=_package_versions(),
        load_before=load_before,
        commit=_commit(),
    )


def _commit() -> str:
    """The checkout's commit, with `+` when its files differ from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (sha or "unknown") + ("+" if dirty else "")
