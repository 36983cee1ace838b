"""The repository contract runs unchanged against every storage adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.memory import InMemoryUnitOfWorkFactory
from application.unit_of_work import UnitOfWorkFactory

BACKENDS = ["memory"]


@pytest.fixture(params=BACKENDS)
async def uow(request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWorkFactory]:
    factory: UnitOfWorkFactory
    if request.param == "memory":
        factory = InMemoryUnitOfWorkFactory()
        yield factory
        return
    raise AssertionError(f"unknown backend {request.param}")
