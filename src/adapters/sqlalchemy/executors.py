"""How the repositories run the statements of `statements.py`: an `Executor`.

`ConnectionExecutor` runs them through SQLAlchemy's own async execution (an
`AsyncConnection`): every dialect, and PostgreSQL with `DB_FAST_PATH=false`. The
PostgreSQL fast path has its own executor, in `fast_path.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

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
