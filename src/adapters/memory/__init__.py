"""An in-memory storage adapter with a real database's semantics, for tests and demos."""

from users_service.adapters.memory.repository import InMemoryUserRepository
from users_service.adapters.memory.store import InMemoryStore
from users_service.adapters.memory.unit_of_work import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory

__all__ = [
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
    "InMemoryUserRepository",
]
