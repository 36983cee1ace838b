"""Shared fixtures: real PostgreSQL and SQLite databases, made and dropped per session.

PostgreSQL comes from TEST_POSTGRES_URL. Without a server the PostgreSQL tests skip,
saying why, except under CI=true, where a missing server fails the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import databases
from tests.support.databases import engine_for
from tests.support.engines import fresh_postgres_database
from tests.support.environment import scrub_process_environment
from tests.support.install import Installed, installed_service

scrub_process_environment()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        await databases.migrate(url)
        yield url


@pytest.fixture(scope="session")
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(postgres_url)
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
    engine = engine_for(sqlite_url)
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
