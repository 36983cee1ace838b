"""How the repositories run the statements of `statements.py`: an `Executor`, one per
backend.

- PostgreSQL: `DriverExecutor` runs each statement's compiled SQL (`compiled.py`) on a
  connection of the adapter's asyncpg pool (`postgres.py`), through asyncpg's public API.
- SQLite: `ConnectionExecutor` runs them through SQLAlchemy's own async execution (an
  `AsyncConnection`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from users_service.adapters.sqlalchemy.compiled import CompiledStatement, StatementCache

Row = Sequence[Any]
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]


class Executor(Protocol):
    dialect_name: str

    async def rows(self, statement: Executable, params: Params) -> list[Row]:
        """Run a statement that returns rows (SELECT, or a write with RETURNING).

        A list of parameter sets runs the statement for each, batched into multi-row
        statements ("insertmanyvalues"); only `ConnectionExecutor` accepts one.
        """
        ...

    async def rowcount(self, statement: Executable, params: Mapping[str, Any]) -> int:
        """Run a write without RETURNING; how many rows it touched."""
        ...


class ConnectionExecutor:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self.dialect_name = connection.dialect.name

    async def rows(self, statement: Executable, params: Params) -> list[Row]:
        if isinstance(params, Mapping):
            result = await self._connection.execute(statement, dict(params))
        else:
            # With RETURNING, a list of parameter sets runs as "insertmanyvalues": one
            # multi-row statement per chunk, never one statement per row.
            result = await self._connection.execute(statement, [dict(p) for p in params])
        return list(result.all())

    async def rowcount(self, statement: Executable, params: Mapping[str, Any]) -> int:
        result = await self._connection.execute(statement, dict(params))
        return int(result.rowcount)


class DriverExecutor:
    """Compiled statements on an asyncpg connection. With an echoing engine (DB_ECHO),
    each statement's SQL goes to the engine's own logger."""

    def __init__(self, driver_connection: Any, cache: StatementCache, echo: Any = None) -> None:
        self._driver = driver_connection
        self._cache = cache
        self._echo = echo
        self.dialect_name = "postgresql"

    def _compiled(self, statement: Executable) -> CompiledStatement:
        compiled = self._cache(statement)
        if self._echo is not None:
            self._echo.info(compiled.sql)
        return compiled

    async def rows(self, statement: Executable, params: Params) -> list[Row]:
        if not isinstance(params, Mapping):
            raise TypeError("on asyncpg, batch with array parameters in one statement")
        compiled = self._compiled(statement)
        return list(await self._driver.fetch(compiled.sql, *compiled.arguments(params)))

    async def rowcount(self, statement: Executable, params: Mapping[str, Any]) -> int:
        compiled = self._compiled(statement)
        status: str = await self._driver.execute(compiled.sql, *compiled.arguments(params))
        # asyncpg returns the command tag, e.g. "DELETE 3" or "UPDATE 1".
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0
