from __future__ import annotations

import pytest

from adapters.memory import InMemoryUnitOfWorkFactory
from application.access import READ, WRITE, Principal
from application.users.delete import DeleteUser
from application.users.get import GetUser
from application.users.listing import ListUsers
from application.users.register import RegisterUsers
from application.users.update import UpdateUser
from tests.support.clock import SteppingClock

ADMIN = Principal("admin", frozenset({READ, WRITE}))


@pytest.fixture
def uow() -> InMemoryUnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def register(uow: InMemoryUnitOfWorkFactory, clock: SteppingClock) -> RegisterUsers:
    return RegisterUsers(uow, clock)


@pytest.fixture
def get_user(uow: InMemoryUnitOfWorkFactory) -> GetUser:
    return GetUser(uow)


@pytest.fixture
def list_users(uow: InMemoryUnitOfWorkFactory) -> ListUsers:
    return ListUsers(uow)


@pytest.fixture
def update_user(uow: InMemoryUnitOfWorkFactory, clock: SteppingClock) -> UpdateUser:
    return UpdateUser(uow, clock)


@pytest.fixture
def delete_user(uow: InMemoryUnitOfWorkFactory) -> DeleteUser:
    return DeleteUser(uow)
