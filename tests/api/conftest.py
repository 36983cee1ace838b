"""The HTTP contract, in process, against the memory backend and against PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from tests.support.app import serve
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET, bearer, token
from users_service.entrypoints.container import Container, container_for
from users_service.entrypoints.settings import Settings


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return IsolatedSettings(database_url=database_url, auth_jwt_secret=SecretStr(SECRET))


@pytest.fixture
def container(settings: Settings) -> Container:
    return container_for(settings)


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(container, headers=bearer(token())) as service:
        yield service.client
