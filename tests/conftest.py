"""Shared fixtures: real PostgreSQL and SQLite databases, made and dropped per session.

PostgreSQL comes from TEST_POSTGRES_URL. Without a server the PostgreSQL tests skip,
saying why, except under CI=true, where a missing server fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import databases
from tests.support.environment import scrub_process_environment
from tests.support.install import Installed, installed_service
from users_service.adapters.sqlalchemy import EngineOptions, create_engine

scrub_process_environment()

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_engine(reason: str | None, engine: str) -> None:
    """Skip, saying why, when an engine a test starts itself is missing; under CI, fail."""
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{engine} is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


async def postgres_server() -> str:
    """TEST_POSTGRES_URL, once it answers; a skip (a failure under CI) otherwise."""
    server = databases.postgres_server_url()
    reason = await databases.postgres_unavailable_reason(server)
    if reason is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    assert server is not None
    return server


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new, unmigrated database on TEST_POSTGRES_URL's server, dropped afterwards."""
    server = await postgres_server()
    url = await databases.create_postgres_database(server)
    try:
        yield url
    finally:
        await databases.drop_postgres_database(server, url)


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        await databases.migrate(url)
        yield url


@pytest.fixture(scope="session")
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(EngineOptions(url=postgres_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "users.db"
    url = f"sqlite+aiosqlite:///{path}"
    await databases.migrate(url)
    return url


@pytest.fixture(scope="session")
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(EngineOptions(url=sqlite_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    """The wheel, installed as an image installs it (see tests/support/install.py)."""
    with installed_service() as service:
        yield service


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite tests/api/snapshots/ from what the service answers now",
    )


@pytest.fixture
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-snapshots"))


def pytest_configure(config: pytest.Config) -> None:
    import importlib

    try:  # a bad TEST_TIME_FACTOR is reported once, before anything is collected
        importlib.import_module("tests.support.timing")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
