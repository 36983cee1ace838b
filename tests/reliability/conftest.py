"""Reliability tests: the app in process (httpx.ASGITransport) on a chosen database,
with its lifespan running, plus a TCP proxy to break the link to PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support import databases
from tests.support.tcp_proxy import TcpProxy

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
JWT_SECRET = "reliability-tests-hs256-secret-0123456789abcdef0123456789abcdef"
SCOPES = "users:read users:write"


def bearer_token(scope: str = SCOPES, subject: str = "reliability-tests") -> str:
    now = int(time.time())
    claims = {"sub": subject, "scope": scope, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer_token()}"}


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for `database_url`, verifying tokens signed with JWT_SECRET (whatever the
    environment says about authentication)."""
    auth = {
        "auth_disabled": False,
        "auth_jwt_secret": JWT_SECRET,
        "auth_issuer": None,
        "auth_audience": None,
    }
    for name, value in auth.items():
        if name in Settings.model_fields:
            overrides.setdefault(name, value)
    return Settings(database_url=database_url, **overrides)


# Words that must never reach a client: they would mean a leaked stack trace or driver detail.
LEAKS = ("Traceback", "sqlalchemy", "asyncpg", "aiosqlite", 'File "', "SELECT ", "INSERT ")


@dataclass
class Service:
    app: FastAPI
    container: Container
    client: httpx.AsyncClient

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.container.engine()
        return engine


@asynccontextmanager
async def serve(settings: Settings, *, empty: bool = True) -> AsyncIterator[Service]:
    """The app on `settings`, lifespan started, with a client that never raises on 5xx."""
    container = Container()
    container.settings.override(providers.Object(settings))
    app = create_app(container)
    async with app.router.lifespan_context(app):
        if empty and container.backend() == "sqlalchemy":
            await databases.empty_tables(container.engine())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30, headers=auth_headers()
        ) as client:
            yield Service(app, container, client)


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
