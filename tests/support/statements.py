"""Counts the SQL statements an engine runs, to prove there is no N+1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_DATA_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def data_statements(self) -> list[str]:
        """Statements that touch rows (transaction control is left out)."""
        return [s for s in self.statements if s.lstrip().upper().startswith(_DATA_VERBS)]


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[StatementLog]:
    log = StatementLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
