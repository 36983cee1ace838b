"""SQLAlchemy engines: SQLite's (the service's and the migrations'), and PostgreSQL's for
the migrations and for operators' tools (the service runs PostgreSQL on its own asyncpg
pool: postgres.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from users_service.adapters.sqlalchemy import pooler

# Execution option naming a SQLite read: it takes a plain BEGIN, not BEGIN IMMEDIATE.
SQLITE_READ_ONLY = "users_sqlite_read_only"

# Seconds the client waits past the server's statement_timeout before giving up.
COMMAND_TIMEOUT_MARGIN = 1.0


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The engine's settings (their defaults and meaning: the service's Settings)."""

    url: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: int
    pool_pre_ping: bool
    connect_timeout: float
    statement_timeout: float
    sqlite_busy_timeout: float
    echo: bool
    pgbouncer: bool  # PostgreSQL behind a transaction-mode pooler: see pooler.py


@dataclass(frozen=True, slots=True)
class PoolUse:
    """A pool's connections now: lent, idle, and the most it opens."""

    used: int
    idle: int
    max: int


def create_engine(options: EngineOptions) -> AsyncEngine:
    url = make_url(options.url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, options)
    return _postgresql_engine(url, options)


def _pool_arguments(options: EngineOptions) -> dict[str, Any]:
    return {
        "pool_size": options.pool_size,
        "max_overflow": options.max_overflow,
        "pool_timeout": options.pool_timeout,
        "pool_recycle": options.pool_recycle,
        "pool_pre_ping": options.pool_pre_ping,
        "echo": options.echo,
    }


def connect_arguments(options: EngineOptions) -> dict[str, Any]:
    """What every asyncpg connection of ours is opened with (the service's pool's and the
    migrations' engine's alike)."""
    return {
        "timeout": options.connect_timeout,
        # Client-side bound on every statement: when the server goes silent (network
        # partition, frozen host) its statement_timeout never answers, and without this a
        # request would wait forever. A live server answers first.
        "command_timeout": options.statement_timeout + COMMAND_TIMEOUT_MARGIN,
        "server_settings": pooler.server_settings(
            options.statement_timeout, pgbouncer=options.pgbouncer
        ),
    }


def _postgresql_engine(url: URL, options: EngineOptions) -> AsyncEngine:
    return create_async_engine(
        url,
        **_pool_arguments(options),
        connect_args={
            **(_pgbouncer_connect_args() if options.pgbouncer else {}),
            **connect_arguments(options),
        },
    )


def _pgbouncer_connect_args() -> dict[str, Any]:
    """Behind a transaction-mode pooler, SQLAlchemy's documented recipe: no statement
    cache, and a unique name for each statement it prepares."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__users_{uuid.uuid4().hex}__",
    }


def _sqlite_engine(url: URL, options: EngineOptions) -> AsyncEngine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, **_pool_arguments(options), connect_args={"timeout": options.sqlite_busy_timeout}
    )
    busy_ms = int(options.sqlite_busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds ASCII only; use Python's so the unique email
        # index agrees with PostgreSQL and with the domain's notion of "same email".
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={busy_ms}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that upgrades
        # later can fail at once with "database is locked", whatever the busy timeout.
        read_only = connection.get_execution_options().get(SQLITE_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None
