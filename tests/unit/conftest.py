from __future__ import annotations

import pytest

from tests.support.clock import SteppingClock
from tests.support.emails import EMAILS
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.application.users.delete import DeleteUser
from users_service.application.users.get import GetUser
from users_service.application.users.listing import ListUsers
from users_service.application.users.register import RegisterUsers
from users_service.application.users.update import UpdateUser


@pytest.fixture
def uow() -> InMemoryUnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def register(uow: InMemoryUnitOfWorkFactory, clock: SteppingClock) -> RegisterUsers:
    return RegisterUsers(uow, clock, EMAILS)


@pytest.fixture
def get_user(uow: InMemoryUnitOfWorkFactory) -> GetUser:
    return GetUser(uow)


@pytest.fixture
def list_users(uow: InMemoryUnitOfWorkFactory) -> ListUsers:
    return ListUsers(uow, EMAILS)


@pytest.fixture
def update_user(uow: InMemoryUnitOfWorkFactory, clock: SteppingClock) -> UpdateUser:
    return UpdateUser(uow, clock, EMAILS)


@pytest.fixture
def delete_user(uow: InMemoryUnitOfWorkFactory, clock: SteppingClock) -> DeleteUser:
    return DeleteUser(uow, clock)
