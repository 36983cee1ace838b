"""Counts the SQL statements an engine runs, to prove there is no N+1.

SQLite statements go through SQLAlchemy's cursor events, synchronously. PostgreSQL
statements run on the asyncpg connection itself, so they are seen by asyncpg's query
logger, attached to each connection the pool lends while counting (a pool `checkout`
listener). asyncpg does not call its loggers when a statement finishes but schedules
them (`loop.call_soon`), so a record may still be on its way when the counted block
ends.

So the count is not read after some number of loop turns: at the block's end, each
connection that was lent sends an end-of-log marker down the same road, through
`call_soon` to the same listener. The loop runs callbacks in the order they were
scheduled, so when the listener has seen every marker it has seen every statement those
connections ran, and it sets an event the block's end waits on (bounded, see
tests/support/timing.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.timing import bound

_DATA_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
_TCL = ("BEGIN", "COMMIT", "ROLLBACK")
_OUR_TABLES = re.compile(r"\b(users|idempotency_keys|outbox)\b")
DELIVERED_WITHIN = 5.0  # seconds; delivery takes one loop turn, this only stops a hang
_END_OF_LOG = object()  # the marker a lent connection sends after its last record


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
async def count_statements(engine: AsyncEngine) -> AsyncIterator[StatementLog]:
    log = StatementLog()
    sync_engine = engine.sync_engine
    loop = asyncio.get_running_loop()
    lent: dict[int, Any] = {}  # id -> asyncpg connection the pool lent
    markers_due = 0
    delivered = asyncio.Event()
    delivered.set()  # nothing is on its way yet

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.statements.append(statement)

    def log_query(query: Any) -> None:
        nonlocal markers_due
        if query is not _END_OF_LOG:
            log.statements.append(query.query)
            return
        markers_due -= 1
        if markers_due == 0:
            delivered.set()

    def end_log(driver: Any) -> None:
        """Stop logging `driver`, and send the marker behind its last record."""
        nonlocal markers_due
        driver.remove_query_logger(log_query)
        markers_due += 1
        delivered.clear()
        loop.call_soon(log_query, _END_OF_LOG)

    def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if id(driver) not in lent and hasattr(driver, "add_query_logger"):
            driver.add_query_logger(log_query)
            lent[id(driver)] = driver

    event.listen(sync_engine, "before_cursor_execute", record)
    event.listen(sync_engine.pool, "checkout", checked_out)
    try:
        yield log
        event.remove(sync_engine.pool, "checkout", checked_out)
        while lent:
            end_log(lent.popitem()[1])
        try:
            await asyncio.wait_for(delivered.wait(), bound(DELIVERED_WITHIN))
        except TimeoutError:
            raise AssertionError(
                f"asyncpg delivered {len(log.statements)} statement(s) to the logger, but not "
                f"the end of every connection's log within {bound(DELIVERED_WITHIN)} s"
            ) from None
    finally:
        if event.contains(sync_engine.pool, "checkout", checked_out):
            event.remove(sync_engine.pool, "checkout", checked_out)
        event.remove(sync_engine, "before_cursor_execute", record)
        for driver in lent.values():
            driver.remove_query_logger(log_query)
