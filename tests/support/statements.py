"""Counts the SQL statements a database runs, to prove there is no N+1.

SQLite statements go through SQLAlchemy's cursor events, synchronously. PostgreSQL
statements run on the service's asyncpg pool: each connection the pool lends while
counting records every statement sent through it, as it is sent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

from users_service.adapters.sqlalchemy import Database
from users_service.adapters.sqlalchemy.postgres import PostgresDatabase
from users_service.adapters.sqlalchemy.sqlite import SqliteDatabase

_DATA_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
_TCL = ("BEGIN", "COMMIT", "ROLLBACK")
_OUR_TABLES = re.compile(
    r"\b(users|groups|group_members|idempotency_keys|outbox|sqlite_sequence)\b"
)


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def data_statements(self) -> list[str]:
        """Statements on our tables. Transaction control is left out, and so is asyncpg's
        one-off type introspection (once per connection and type, on pg_catalog)."""
        return [
            s
            for s in self.statements
            if s.lstrip().upper().startswith(_DATA_VERBS) and _OUR_TABLES.search(s)
        ]

    @property
    def service_statements(self) -> list[str]:
        """Data statements on our tables and transaction control, in order: what the
        service sent, without the driver's own introspection."""
        data = set(self.data_statements)
        return [s for s in self.statements if s in data or s.lstrip().upper().startswith(_TCL)]


@asynccontextmanager
async def count_statements(database: Database) -> AsyncIterator[StatementLog]:
    if isinstance(database, SqliteDatabase):
        async with _count_sqlite(database) as log:
            yield log
        return
    assert isinstance(database, PostgresDatabase)
    async with _count_postgres(database) as log:
        yield log


@asynccontextmanager
async def _count_sqlite(database: SqliteDatabase) -> AsyncIterator[StatementLog]:
    log = StatementLog()
    sync_engine = database.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


class _Recording:
    """A lent connection that records each statement sent through it, then sends it."""

    def __init__(self, connection: Any, log: StatementLog) -> None:
        self.connection = connection
        self._log = log

    async def fetch(self, query: str, *args: Any) -> Any:
        self._log.statements.append(query)
        return await self.connection.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        self._log.statements.append(query)
        return await self.connection.execute(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


@asynccontextmanager
async def _count_postgres(database: PostgresDatabase) -> AsyncIterator[StatementLog]:
    log = StatementLog()
    usual_acquire, usual_release = database.acquire, database.release

    async def acquire() -> Any:
        return _Recording(await usual_acquire(), log)

    async def release(connection: Any, *, discard: bool) -> None:
        if isinstance(connection, _Recording):
            connection = connection.connection
        await usual_release(connection, discard=discard)

    database.acquire = acquire  # type: ignore[method-assign]
    database.release = release  # type: ignore[method-assign]
    try:
        yield log
    finally:
        database.acquire = usual_acquire  # type: ignore[method-assign]
        database.release = usual_release  # type: ignore[method-assign]
