"""Helpers for the reliability tests: the app on a chosen database with an authenticated
client, problem responses that leak nothing, and the figures the tests measure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import app as support_app
from tests.support.app import Service
from tests.support.settings import IsolatedSettings
from tests.support.tokens import ADMIN_SCOPES, SECRET, bearer, token
from users_service.entrypoints.settings import Settings

__all__ = ["Service"]

# Figures the tests measure (rounds, outcomes, seconds), shown at the end of the run under
# "reliability figures"; RELIABILITY.md quotes them.
FIGURES: dict[str, MutableMapping[str, Any]] = {}
Store = TypeVar("Store", bound=MutableMapping[str, Any])


def figures(section: str, store: Store) -> Store:
    """Registers `store` (a dict or Counter the tests fill) under `section`."""
    FIGURES[section] = store
    return store


# Authentication is on, as in production: requests carry an HS256 token with both scopes.


def bearer_token() -> str:
    return token(
        sub="reliability-tests", ttl=3600, scope=f"{ADMIN_SCOPES} groups:read groups:write"
    )


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
