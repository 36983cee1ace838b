"""`users-service import` at scale: 1,000,000 generated rows (all valid, distinct emails)
imported into an empty `users` table on PostgreSQL, with full validation, once with
`EVENTS_ENABLED=false` and once with events on; then the same rows by raw `COPY` into an
empty table: what the database alone can take (the physical limit). The import runs as
an operator runs it (`users-service import FILE --quiet`, a process of its own); its peak
RSS comes from the kernel (`wait4`). Target: at least 50,000 rows/s with events off.

Runs inside `make bench` (`BENCH_IMPORT=on`), or alone: `.venv/bin/python bench/bulk.py`.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from config import REPO_ROOT, RESULTS_DIR, VENV_BIN, Config

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
TARGET = 50_000


@dataclass(frozen=True, slots=True)
class BulkFigures:
    rows: int
    events_off_rate: float
    events_off_rss_mb: float
    events_on_rate: float
    events_on_rss_mb: float
    copy_rate: float


def generate(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "name"])
        writer.writerows((f"bulk.{i}@example.com", f"Bulk User {i}") for i in range(rows))


async def _truncate(config: Config) -> None:
    connection = await asyncpg.connect(config.bench_dsn)
    try:
        await connection.execute("TRUNCATE group_members, groups, users, outbox, idempotency_keys")
    finally:
        await connection.close()


def _import(config: Config, path: Path, events: bool) -> tuple[float, float]:
    """rows/s and peak RSS (MB) of one `users-service import`."""
    env = {
        **os.environ,
        "DATABASE_URL": config.service_database_url,
        "LOG_LEVEL": "WARNING",
        "EVENTS_ENABLED": "true" if events else "false",
        "ENV_FILE": "",
    }
    started = time.monotonic()
    process = subprocess.Popen(
        [str(VENV_BIN / "users-service"), "import", str(path), "--quiet"], cwd=REPO_ROOT, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"users-service import exited with {process.returncode}")
    return ROWS / elapsed, usage.ru_maxrss / 1024


async def _copy(config: Config, path: Path) -> float:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        next(reader)
        rows = [(email, name) for email, name in reader]
    # One statement for the whole million: the role's statement_timeout (set for the
    # service by the PgBouncer part's `migrate --role-settings`) is not for this one.
    connection = await asyncpg.connect(config.bench_dsn, server_settings={"statement_timeout": "0"})
    try:
        now = await connection.fetchval("SELECT now()")
        records = [(email, name, now, now, 1) for email, name in rows]
        started = time.monotonic()
        await connection.copy_records_to_table(
            "users",
            records=records,
            columns=["email", "name", "created_at", "updated_at", "version"],
        )
        return len(records) / (time.monotonic() - started)
    finally:
        await connection.close()


async def measure(config: Config, log: object = print) -> BulkFigures:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "bulk-users.csv"
    generate(path, ROWS)
    figures = []
    for events in (False, True):
        await _truncate(config)
        rate, rss = await asyncio.to_thread(_import, config, path, events)
        figures += [rate, rss]
        log(
            f"import of {ROWS:,} rows, events {'on' if events else 'off'}: "  # type: ignore[operator]
            f"{rate:,.0f} rows/s, peak RSS {rss:.0f} MB"
        )
    await _truncate(config)
    copy_rate = await _copy(config, path)
    log(f"COPY of the same {ROWS:,} rows: {copy_rate:,.0f} rows/s")  # type: ignore[operator]
    await _truncate(config)
    path.unlink()
    return BulkFigures(ROWS, figures[0], figures[1], figures[2], figures[3], copy_rate)


if __name__ == "__main__":
    import database

    async def alone() -> None:
        config = Config()
        await database.recreate(config)
        database.migrate(config)
        print(await measure(config))

    asyncio.run(alone())
