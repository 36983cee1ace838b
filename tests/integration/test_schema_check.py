"""A database whose schema is not this release's is not ready, and says what to run:
never migrated, or changed under a running service. (`serve` refuses to start on one:
tests/e2e/test_server.py.)"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.databases import engine_for, migrate
from tests.support.engines import fresh_postgres_database
from tests.support.reliability import assert_problem, make_settings, serve
from users_service.entrypoints.migrations import head_revision, known_revisions


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the test's own, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


async def test_a_database_never_migrated_is_not_ready(
    fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(make_settings(fresh_url), empty=False) as service:
        ready = await service.client.get("/readyz")
        with caplog.at_level(logging.WARNING, logger="users_service.errors"):
            listed = await service.client.get("/users")
    # A request meanwhile: a 503 that tells nothing inside, and a log line that says why.
    assert_problem(listed, 503, "service_unavailable")
    assert "users-service migrate" in caplog.text
    assert ready.status_code == 503
    detail = ready.json()["detail"]
    assert "has no schema" in detail
    assert "users-service migrate" in detail


async def test_a_schema_changed_under_the_service_turns_readiness_off(
    fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await migrate(fresh_url)
    older = sorted(known_revisions() - {head_revision()})[0]
    async with serve(make_settings(fresh_url)) as service:
        assert (await service.client.get("/readyz")).status_code == 200
        admin = engine_for(fresh_url)
        try:
            async with admin.begin() as connection:
                await connection.execute(
                    text("UPDATE alembic_version SET version_num = :older"), {"older": older}
                )
        finally:
            await admin.dispose()
        with caplog.at_level(logging.WARNING, logger="users_service.health"):
            ready = await service.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"] == (
            f"The database is at revision {older}, not at this release's {head_revision()}: "
            "run `users-service migrate`."
        )
        assert older in caplog.text


async def test_a_newer_releases_schema_keeps_the_service_ready(fresh_url: str) -> None:
    """A rolling update migrates first: the pods still running keep serving."""
    await migrate(fresh_url)
    async with serve(make_settings(fresh_url)) as service:
        admin = engine_for(fresh_url)
        try:
            async with admin.begin() as connection:
                await connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        finally:
            await admin.dispose()
        assert (await service.client.get("/readyz")).status_code == 200
