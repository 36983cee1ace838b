"""An in-memory storage adapter with a real database's semantics, for tests and demos."""

from adapters.memory.repository import InMemoryUserRepository
from adapters.memory.store import InMemoryStore
from adapters.memory.unit_of_work import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory

__all__ = [
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
    "InMemoryUserRepository",
]
