"""Async SQLAlchemy storage: PostgreSQL through asyncpg, SQLite through aiosqlite."""

from users_service.adapters.sqlalchemy.engine import EngineOptions, create_engine
from users_service.adapters.sqlalchemy.repository import SqlAlchemyUserRepository
from users_service.adapters.sqlalchemy.tables import metadata
from users_service.adapters.sqlalchemy.unit_of_work import (
    SqlAlchemyUnitOfWork,
    SqlAlchemyUnitOfWorkFactory,
)

__all__ = [
    "EngineOptions",
    "SqlAlchemyUnitOfWork",
    "SqlAlchemyUnitOfWorkFactory",
    "SqlAlchemyUserRepository",
    "create_engine",
    "metadata",
]
