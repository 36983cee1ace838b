"""Migrations: the stairway (up, down, up) and no drift between them and the metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.support import databases
from tests.support.databases import engine_for
from users_service.adapters.sqlalchemy import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_url")  # skips, or fails in CI, without a server
    return str(request.param)


@pytest.fixture
async def fresh_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('stairway') / 'users.db'}"
        return
    server = databases.postgres_server_url()
    assert server is not None
    url = await databases.create_postgres_database(server)
    yield url
    await databases.drop_postgres_database(server, url)


async def _tables(url: str) -> set[str]:
    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            names: list[str] = await connection.run_sync(
                lambda sync: inspect(sync).get_table_names()
            )
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version", "sqlite_sequence"}


async def _drift(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def test_stairway_up_down_up(fresh_url: str) -> None:
    await databases.migrate(fresh_url)
    assert await _tables(fresh_url) == set(metadata.tables)
    await databases.downgrade(fresh_url, "base")
    assert await _tables(fresh_url) == set()
    await databases.migrate(fresh_url)
    assert await _tables(fresh_url) == set(metadata.tables)


# SQLite cannot reflect expression indexes, so drift is judged on PostgreSQL.
@pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_migrated_schema_matches_metadata(fresh_url: str) -> None:
    await databases.migrate(fresh_url)
    assert await _drift(fresh_url) == []
