"""Statements compiled once per shape, for the asyncpg driver.

PostgreSQL statements run on a connection of the adapter's asyncpg pool
(`postgres.DriverSession`). Each Core statement of `statements.py` is compiled once with
the engine's dialect, through SQLAlchemy's public compiler API, and kept here keyed by
the statement object itself (held weakly), so an entry can never answer for another
statement. Compilation refuses any statement this way of running would get wrong:
post-compile (expanding) parameters, and columns whose results need a processor.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine


class UnsupportedStatement(TypeError):
    """A statement that cannot run as compiled SQL on the driver."""


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    implementation = type_.dialect_impl(dialect)
    if isinstance(implementation, ARRAY):
        item = implementation.item_type.dialect_impl(dialect)
        if item.bind_processor(dialect) is None:
            return None  # asyncpg takes the list as it is; SQLAlchemy's would only copy it
    return implementation.bind_processor(dialect)


def _refuse_result_processors(statement: Executable, dialect: Dialect) -> None:
    for column in getattr(statement, "exported_columns", ()):
        implementation = column.type.dialect_impl(dialect)
        if implementation.result_processor(dialect, None) is not None:
            raise UnsupportedStatement(
                f"column {column.name!r} ({column.type!r}) has a result processor, "
                "which the driver does not run"
            )


class CompiledStatement:
    """SQL text, positional parameter order and the types' bind processors."""

    __slots__ = ("defaults", "names", "processors", "sql")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise UnsupportedStatement("post-compile (expanding) parameters need SQLAlchemy")
        _refuse_result_processors(statement, dialect)
        self.sql: str = compiled.string
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


class StatementCache:
    """Compiled statements of one dialect, keyed by the statement object itself."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: weakref.WeakKeyDictionary[Executable, CompiledStatement] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, statement: Executable) -> CompiledStatement:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = CompiledStatement(statement, self._dialect)
        return compiled
