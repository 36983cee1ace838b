"""Counts the SQL statements an engine runs, to prove there is no N+1.

SQLite statements go through SQLAlchemy's cursor events; PostgreSQL statements run on
the asyncpg connection itself, so they are seen by asyncpg's query logger, attached to
each connection the pool lends while counting. asyncpg calls its loggers on the next
turn of the event loop, so the count is taken after one more turn.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_DATA_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
_OUR_TABLES = re.compile(r"\b(users|idempotency_keys)\b")


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


@asynccontextmanager
async def count_statements(engine: AsyncEngine) -> AsyncIterator[StatementLog]:
    log = StatementLog()
    sync_engine = engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.statements.append(statement)

    def log_query(query: Any) -> None:
        log.statements.append(query.query)

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if hasattr(driver, "add_query_logger"):
            driver.add_query_logger(log_query)

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if hasattr(driver, "remove_query_logger"):
            driver.remove_query_logger(log_query)

    event.listen(sync_engine, "before_cursor_execute", record)
    event.listen(sync_engine.pool, "checkout", on_checkout)
    event.listen(sync_engine.pool, "checkin", on_checkin)
    try:
        yield log
        await asyncio.sleep(0)  # let asyncpg deliver the last statements to the logger
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
        event.remove(sync_engine.pool, "checkout", on_checkout)
        event.remove(sync_engine.pool, "checkin", on_checkin)
