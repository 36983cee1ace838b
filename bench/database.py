"""The benchmark database: recreated, migrated by the service's own CLI, seeded fast."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from config import REPO_ROOT, VENV_BIN, Config

SEED_COLUMNS = ("email", "name", "created_at", "updated_at", "version")


async def recreate(config: Config) -> None:
    if not config.database.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name: {config.database!r}")
    connection = await asyncpg.connect(config.admin_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{config.database}"')
    finally:
        await connection.close()


def migrate(config: Config) -> None:
    env = {**os.environ, "DATABASE_URL": config.service_database_url, "LOG_LEVEL": "WARNING"}
    subprocess.run([str(VENV_BIN / "users-service"), "migrate"], cwd=REPO_ROOT, env=env, check=True)


def apply_role_settings(config: Config, pooled_url: str) -> None:
    """`migrate --role-settings`, as an operator runs it behind PgBouncer."""
    env = {
        **os.environ,
        "DATABASE_URL": pooled_url,
        "DATABASE_MIGRATION_URL": config.service_database_url,
        "DB_PGBOUNCER": "true",
        "LOG_LEVEL": "WARNING",
    }
    command = [str(VENV_BIN / "users-service"), "migrate", "--role-settings"]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True)


async def seed(config: Config) -> tuple[int, int]:
    """COPY `seed_rows` users in; return the (lowest, highest) id."""
    now = datetime.now(UTC)
    records = (
        (f"seed{i:07d}@example.com", f"Seed User {i}", now, now, 1)
        for i in range(1, config.seed_rows + 1)
    )
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        await connection.copy_records_to_table("users", records=records, columns=SEED_COLUMNS)
        await connection.execute("VACUUM ANALYZE users")
        row = await connection.fetchrow("SELECT min(id), max(id), count(*) FROM users")
    finally:
        await connection.close()
    if row is None or row[2] != config.seed_rows:
        raise RuntimeError(f"seeding stored {row and row[2]} rows, not {config.seed_rows}")
    return int(row[0]), int(row[1])


async def checkpoint(config: Config) -> None:
    """Flush dirty pages so a checkpoint does not land inside one server's measurement."""
    connection = await asyncpg.connect(config.admin_dsn)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def sessions(config: Config) -> int:
    """Sessions PostgreSQL has counted on the benchmark database (they count as they end)."""
    connection = await asyncpg.connect(config.admin_dsn)
    try:
        value = await connection.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", config.database
        )
    finally:
        await connection.close()
    return int(value or 0)


async def row_count(config: Config) -> int:
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM users"))
    finally:
        await connection.close()


async def server_version(config: Config) -> str:
    connection = await asyncpg.connect(config.admin_dsn)
    try:
        return str(await connection.fetchval("SELECT version()"))
    finally:
        await connection.close()


# The service names its connections "users-service"; PgBouncer's server connections carry
# the client's name with its address appended (application_name_add_host).
DIRECT, POOLED = "direct", "pgbouncer"


def connection_group(application_name: str) -> str | None:
    if application_name == "users-service":
        return DIRECT
    if application_name.startswith("users-service - "):
        return POOLED
    return None


@dataclass(slots=True)
class ConnectionSampler:
    """Peak PostgreSQL server connections on the benchmark database, per group, sampled
    every 100 ms while a run lasts."""

    config: Config
    peaks: dict[str, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        connection = await asyncpg.connect(
            self.config.admin_dsn, server_settings={"application_name": "bench-sampler"}
        )
        try:
            while True:
                rows = await connection.fetch(
                    "SELECT application_name, count(*) AS n FROM pg_stat_activity "
                    "WHERE datname = $1 GROUP BY application_name",
                    self.config.database,
                )
                counts: dict[str, int] = {}
                for row in rows:
                    group = connection_group(row["application_name"] or "")
                    if group is not None:
                        counts[group] = counts.get(group, 0) + int(row["n"])
                for group, count in counts.items():
                    self.peaks[group] = max(self.peaks.get(group, 0), count)
                await asyncio.sleep(0.1)
        finally:
            await connection.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, int]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.peaks
