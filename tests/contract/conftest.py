"""The repository contract runs unchanged against every storage adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.databases import database_for, empty_tables, url_of
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.adapters.sqlalchemy import SqlAlchemyUnitOfWorkFactory
from users_service.application.unit_of_work import UnitOfWorkFactory

BACKENDS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> AsyncEngine | None:
    if request.param == "memory":
        return None
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
async def uow(engine: AsyncEngine | None) -> AsyncIterator[UnitOfWorkFactory]:
    if engine is None:
        yield InMemoryUnitOfWorkFactory()
        return
    await empty_tables(engine)
    database = database_for(url_of(engine))
    try:
        yield SqlAlchemyUnitOfWorkFactory(database)
    finally:
        await database.dispose()
    await empty_tables(engine)
