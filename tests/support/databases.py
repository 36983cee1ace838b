"""Throwaway databases for tests: created, migrated, emptied and dropped by the tests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from users_service.adapters.sqlalchemy import (
    Database,
    EngineOptions,
    create_database,
    create_engine,
)
from users_service.entrypoints import migrations

POSTGRES_ENV = "TEST_POSTGRES_URL"


async def migrate(url: str, revision: str = "head") -> None:
    # Alembic's async env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(migrations.upgrade, url, revision)


async def downgrade(url: str, revision: str = "base") -> None:
    await asyncio.to_thread(migrations.downgrade, url, revision)


def options_for(url: str, **options: Any) -> EngineOptions:
    """The service's engine options for `url` (its defaults), with `options` changed."""
    from tests.support.settings import IsolatedSettings
    from users_service.entrypoints.options import engine_options

    return dataclasses.replace(engine_options(IsolatedSettings(database_url=url)), **options)


def engine_for(url: str, **options: Any) -> AsyncEngine:
    """An engine on `url` as the service makes it, with `options` changed."""
    return create_engine(options_for(url, **options))


def database_for(url: str, **options: Any) -> Database:
    """The service's `Database` on `url` (PostgreSQL's pool or SQLite's engine), with
    `options` changed."""
    return create_database(options_for(url, **options))


def url_of(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def dsn(url: str) -> str:
    """The URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_unavailable_reason(url: str | None) -> str | None:
    if url is None:
        return f"{POSTGRES_ENV} is not set"
    try:
        connection = await asyncpg.connect(dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {POSTGRES_ENV} does not answer: {exc!r}"
    await connection.close()
    return None


async def create_postgres_database(server_url: str) -> str:
    name = f"users_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(dsn(server_url))
    try:
        await connection.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await connection.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("TRUNCATE group_members, groups, users, idempotency_keys, outbox")
            )
        else:
            await connection.execute(text("DELETE FROM group_members"))
            await connection.execute(text("DELETE FROM groups"))
            await connection.execute(text("DELETE FROM users"))
            await connection.execute(text("DELETE FROM idempotency_keys"))
            await connection.execute(text("DELETE FROM outbox"))
