"""The engines tests need: PostgreSQL from TEST_POSTGRES_URL, and the ones a test starts
itself (NATS, PgBouncer, Chromium...). A missing one skips, saying why, except under
CI=true, where it fails the run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.support import databases

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
