"""Two ways to run the statements of `statements.py`.

`ConnectionExecutor` runs them through a SQLAlchemy `AsyncConnection` (any dialect:
SQLite uses it). `DriverExecutor` runs their compiled SQL straight on the asyncpg
connection that SQLAlchemy's pool lent us: the same SQL, without SQLAlchemy's
per-execution machinery (execution context, result wrapping, greenlet switches), which
profiling showed to cost more CPU than the query itself on short OLTP reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

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


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(type_, ARRAY) and type_.item_type.bind_processor(dialect) is None:
        return None  # asyncpg takes the list as it is; SQLAlchemy's would only copy it
    return type_.bind_processor(dialect)


class _Compiled:
    """SQL text, positional parameter order and the types' bind processors."""

    __slots__ = ("defaults", "names", "processors", "sql")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self.processors = {
            name: processor
            for name in self.names
            if (processor := _bind_processor(compiled.binds[name].type, dialect)) is not None
        }

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        if self.defaults:
            params = {**self.defaults, **params}
        processors = self.processors
        return [
            processors[name](params[name]) if name in processors else params[name]
            for name in self.names
        ]


class DriverExecutor:
    """Compiled statements on a raw asyncpg connection. Compiled once per statement.

    With an echoing engine (DB_ECHO), statements go to the engine's own logger, as they do
    on the generic path.
    """

    _cache: dict[tuple[int, str], _Compiled] = {}

    def __init__(self, driver_connection: Any, engine: AsyncEngine) -> None:
        self._driver = driver_connection
        self._dialect = engine.dialect
        self._echo = engine.sync_engine.logger if engine.echo else None
        self.dialect_name = engine.dialect.name

    def _compiled(self, statement: Executable) -> _Compiled:
        # Statements are module-level or cached per shape, so identity is a stable key.
        key = (id(statement), self._dialect.name)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._cache[key] = _Compiled(statement, self._dialect)
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
