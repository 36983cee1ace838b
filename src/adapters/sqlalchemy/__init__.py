"""Async SQLAlchemy storage: PostgreSQL through asyncpg, SQLite through aiosqlite."""

from adapters.sqlalchemy.engine import EngineOptions, create_engine
from adapters.sqlalchemy.repository import SqlAlchemyUserRepository
from adapters.sqlalchemy.tables import metadata
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory

__all__ = [
    "EngineOptions",
    "SqlAlchemyUnitOfWork",
    "SqlAlchemyUnitOfWorkFactory",
    "SqlAlchemyUserRepository",
    "create_engine",
    "metadata",
]
