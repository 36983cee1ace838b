"""What a unit of work runs on: a `Database` per backend and process, lending `Session`s
(one connection and its transaction each). PostgreSQL's is `postgres.PostgresDatabase`
(an asyncpg pool), SQLite's `sqlite.SqliteDatabase` (a SQLAlchemy engine)."""

from __future__ import annotations

from typing import Any, Protocol

from users_service.adapters.sqlalchemy.engine import EngineOptions, PoolUse, create_engine
from users_service.adapters.sqlalchemy.executors import Executor
from users_service.adapters.sqlalchemy.postgres import PostgresDatabase
from users_service.adapters.sqlalchemy.sqlite import SqliteDatabase


class Session(Protocol):
    executor: Executor

    async def commit(self) -> None: ...

    async def close(self, failed: bool) -> None:
        """Settle what is left (roll back), then give the connection back, to the end
        even when the caller is cancelled meanwhile."""
        ...


class Database(Protocol):
    dialect_name: str

    async def session(self, *, read_only: bool, insert_only: bool, snapshot: bool) -> Session:
        """A session: read-only, insert-only (no transaction needed where the backend
        can skip it), a snapshot (one consistent view for every read), or a writer."""
        ...

    def use(self) -> PoolUse: ...

    async def dispose(self) -> None: ...


def create_database(options: EngineOptions) -> Database:
    """The database `options.url` names: PostgreSQL or SQLite."""
    if options.url.startswith("sqlite"):
        return SqliteDatabase(create_engine(options))
    return PostgresDatabase(options)


async def scalar(database: Database, statement: Any) -> Any:
    """One value from a read on its own connection (readiness, a replica's lag)."""
    session = await database.session(read_only=True, insert_only=False, snapshot=False)
    failed = True
    try:
        rows = await session.executor.rows(statement, {})
        failed = False
        return rows[0][0]
    finally:
        await session.close(failed)
