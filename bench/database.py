"""The benchmark database: recreated, migrated by the service's own CLI, seeded fast."""

from __future__ import annotations

import os
import subprocess
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
