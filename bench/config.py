"""Run settings, read once from the environment (every knob has a default)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"
RESULTS_DIR = BENCH_DIR / "results"
VENV_BIN = REPO_ROOT / ".venv" / "bin"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True, slots=True)
class Config:
    duration: int = field(default_factory=lambda: _int("BENCH_DURATION", 10))
    warmup: int = field(default_factory=lambda: _int("BENCH_WARMUP", 3))
    rounds: int = field(default_factory=lambda: _int("BENCH_ROUNDS", 3))
    connections: int = field(default_factory=lambda: _int("BENCH_CONNECTIONS", 32))
    batch_connections: int = field(default_factory=lambda: _int("BENCH_BATCH_CONNECTIONS", 4))
    threads: int = field(default_factory=lambda: _int("BENCH_THREADS", 2))
    seed_rows: int = field(default_factory=lambda: _int("BENCH_SEED_ROWS", 100_000))
    batch_size: int = field(default_factory=lambda: _int("BENCH_BATCH_SIZE", 1000))
    timeout: float = field(default_factory=lambda: _float("BENCH_TIMEOUT", 10.0))
    postgres_url: str = field(
        default_factory=lambda: os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
    )
    database: str = field(default_factory=lambda: os.environ.get("BENCH_DATABASE", "users_bench"))
    # "executemany" (the baseline) or "unnest" (one INSERT ... SELECT FROM unnest).
    ceiling_batch: str = field(
        default_factory=lambda: os.environ.get("BENCH_CEILING_BATCH", "executemany")
    )
    output: Path = field(
        default_factory=lambda: Path(
            os.environ.get("BENCH_OUTPUT", str(REPO_ROOT / "BENCHMARKS.md"))
        )
    )
    # "jwt": the service verifies an HS256 bearer token on every request; "off": AUTH_DISABLED.
    auth: str = field(default_factory=lambda: os.environ.get("BENCH_AUTH", "jwt"))
    # "on": the service is also measured through PgBouncer (transaction mode, the shipped
    # deploy/kubernetes/pgbouncer.ini) against itself direct; "off": not.
    pgbouncer: str = field(default_factory=lambda: os.environ.get("BENCH_PGBOUNCER", "on"))
    # "on": observability's cost is also counted in instructions under callgrind
    # (bench/instructions.py), the measure its bars are judged on; "off": not.
    instructions: str = field(default_factory=lambda: os.environ.get("BENCH_INSTRUCTIONS", "on"))
    # "on": POST /users is also measured with and without change events, the relay in
    # process publishing to the machine's NATS (bench/events.py); "off": not.
    events: str = field(default_factory=lambda: os.environ.get("BENCH_EVENTS", "on"))
    # "on": `users-service import` of BENCH_IMPORT_ROWS rows, events off and on, beside
    # raw COPY (bench/bulk.py), at the end of the run; "off": not.
    bulk: str = field(default_factory=lambda: os.environ.get("BENCH_IMPORT", "on"))
    run_token: str = field(default_factory=lambda: secrets.token_hex(4))
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def __post_init__(self) -> None:
        if self.duration < 10:
            raise ValueError("BENCH_DURATION must be at least 10 seconds")
        if self.rounds < 1 or self.connections < 1 or self.batch_connections < 1:
            raise ValueError("BENCH_ROUNDS and BENCH_*CONNECTIONS must be positive")
        if self.ceiling_batch not in ("executemany", "unnest"):
            raise ValueError("BENCH_CEILING_BATCH must be executemany or unnest")
        if self.auth not in ("jwt", "off"):
            raise ValueError("BENCH_AUTH must be jwt or off")
        if self.pgbouncer not in ("on", "off"):
            raise ValueError("BENCH_PGBOUNCER must be on or off")
        if self.bulk not in ("on", "off"):
            raise ValueError("BENCH_IMPORT must be on or off")
        if self.events not in ("on", "off"):
            raise ValueError("BENCH_EVENTS must be on or off")
        if self.instructions not in ("on", "off"):
            raise ValueError("BENCH_INSTRUCTIONS must be on or off")

    @property
    def admin_dsn(self) -> str:
        """asyncpg DSN of the maintenance database (drop/create happen there)."""
        return _plain(self.postgres_url)

    @property
    def bench_dsn(self) -> str:
        parts = urlsplit(_plain(self.postgres_url))
        return urlunsplit(parts._replace(path=f"/{self.database}"))

    @property
    def service_database_url(self) -> str:
        return self.bench_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def _plain(url: str) -> str:
    """postgresql+asyncpg://... -> postgresql://... (asyncpg wants no driver suffix)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"
