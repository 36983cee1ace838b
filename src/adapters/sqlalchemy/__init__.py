"""Storage on SQLAlchemy Core statements: PostgreSQL on an asyncpg pool, SQLite on a
SQLAlchemy engine (aiosqlite)."""

from users_service.adapters.sqlalchemy.engine import EngineOptions, PoolUse, create_engine
from users_service.adapters.sqlalchemy.repository import SqlAlchemyUserRepository
from users_service.adapters.sqlalchemy.sessions import Database, create_database
from users_service.adapters.sqlalchemy.tables import metadata
from users_service.adapters.sqlalchemy.unit_of_work import (
    SqlAlchemyUnitOfWork,
    SqlAlchemyUnitOfWorkFactory,
)

__all__ = [
    "Database",
    "EngineOptions",
    "PoolUse",
    "SqlAlchemyUnitOfWork",
    "SqlAlchemyUnitOfWorkFactory",
    "SqlAlchemyUserRepository",
    "create_database",
    "create_engine",
    "metadata",
]
