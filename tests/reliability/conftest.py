"""Reliability tests: the app in process (httpx.ASGITransport) on a chosen database,
with its lifespan running, plus a TCP proxy to break the link to PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, MutableMapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import require_engine
from tests.support import app as support_app
from tests.support import databases
from tests.support import nats as support_nats
from tests.support.app import Service
from tests.support.nats import NatsServer
from tests.support.settings import IsolatedSettings
from tests.support.tcp_proxy import TcpProxy
from tests.support.tokens import SECRET, bearer, token
from users_service.entrypoints.settings import Settings

# Figures the tests measure (rounds, outcomes, seconds), shown at the end of the run under
# "reliability figures"; RELIABILITY.md quotes them.
_FIGURES: dict[str, MutableMapping[str, Any]] = {}
Store = TypeVar("Store", bound=MutableMapping[str, Any])


def figures(section: str, store: Store) -> Store:
    """Registers `store` (a dict or Counter the tests fill) under `section`."""
    _FIGURES[section] = store
    return store


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(_FIGURES.values()):
        return
    terminalreporter.section("reliability figures")
    for section, store in _FIGURES.items():
        if store:
            terminalreporter.write_line(f"{section}:")
            for key, value in sorted(store.items()):
                shown = sorted(value) if isinstance(value, set) else value
                terminalreporter.write_line(f"  {key}: {shown}")


# Authentication is on, as in production: requests carry an HS256 token with both scopes.


def bearer_token() -> str:
    return token(sub="reliability-tests", ttl=3600)


def auth_headers() -> dict[str, str]:
    return bearer(bearer_token())


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for `database_url`, verifying tokens signed with SECRET (whatever the
    environment says about authentication)."""
    auth = {
        "auth_disabled": False,
        "auth_jwt_secret": SECRET,
        "auth_issuer": None,
        "auth_audience": None,
    }
    for name, value in auth.items():
        if name in Settings.model_fields:
            overrides.setdefault(name, value)
    return IsolatedSettings(database_url=database_url, **overrides)


# Words that must never reach a client: they would mean a leaked stack trace or driver detail.
LEAKS = ("Traceback", "sqlalchemy", "asyncpg", "aiosqlite", 'File "', "SELECT ", "INSERT ")


def serve(settings: Settings, *, empty: bool = True) -> AbstractAsyncContextManager[Service]:
    """The app on `settings`, lifespan started, with an authenticated client that never
    raises on 5xx."""
    return support_app.serve(settings, headers=auth_headers(), empty=empty)


def statuses(responses: Iterable[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    assert body["request_id"] == response.headers["x-request-id"]
    for word in LEAKS:
        assert word not in response.text, f"{word!r} leaked: {response.text}"
    return body


def assert_unavailable(response: httpx.Response) -> None:
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"].isdigit()


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def count_email(engine: AsyncEngine, email: str) -> int:
    count: int = await scalar(
        engine, "SELECT count(*) FROM users WHERE lower(email) = lower(:email)", email=email
    )
    return count


@pytest.fixture
async def sqlite_file_url(tmp_path: Path) -> str:
    """A migrated SQLite file of this test's own."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    await databases.migrate(url)
    return url


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
def proxied_url(postgres_url: str, proxy: TcpProxy) -> str:
    """The test database, reached through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server with JetStream of the test's own, which it may kill and restart."""
    require_engine(support_nats.missing_reason(), "nats-server")
    with support_nats.nats_server(tmp_path / "nats") as server:
        yield server
