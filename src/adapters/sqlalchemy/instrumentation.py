"""Every statement measured and traced, on both backends: `InstrumentedExecutor` wraps
whichever `Executor` a unit of work runs on (asyncpg's on PostgreSQL, which SQLAlchemy's
own instrumentation cannot see, or SQLAlchemy's on SQLite).

Nothing is wrapped when neither metrics nor tracing is on."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.sql import Delete, Executable, Insert, Select, Update

from users_service.adapters.sqlalchemy.executors import Executor, Params, Row


class StatementObserver(Protocol):
    def statement(self, name: str, seconds: float) -> None:
        """One statement ran (or failed) in `seconds`."""
        ...


@dataclass(frozen=True, slots=True)
class Instrumentation:
    """What each statement reports to: a metric (`observer`) and a span (`tracer`, an
    OpenTelemetry tracer), either or both."""

    observer: StatementObserver | None = None
    tracer: Any = None
    system: str = "postgresql"

    @property
    def active(self) -> bool:
        return self.observer is not None or self.tracer is not None


_NAMES: weakref.WeakKeyDictionary[Executable, str] = weakref.WeakKeyDictionary()


def operation_name(statement: Executable) -> str:
    """`SELECT users`, `INSERT idempotency_keys`...: the operation and its table, as
    OpenTelemetry's `db.query.summary` reads (a bounded set: one per statement shape)."""
    name = _NAMES.get(statement)
    if name is None:
        name = _NAMES[statement] = _name(statement)
    return name


def _name(statement: Executable) -> str:
    named = statement.get_execution_options().get("operation_name")
    if isinstance(named, str):
        return named
    if isinstance(statement, Select):
        tables = [getattr(f, "name", "") for f in statement.get_final_froms()]
        return " ".join(["SELECT", *[t for t in tables if t]])
    for kind, verb in ((Insert, "INSERT"), (Update, "UPDATE"), (Delete, "DELETE")):
        if isinstance(statement, kind):
            return f"{verb} {getattr(statement.table, 'name', '')}".strip()
    return type(statement).__name__.upper()


class InstrumentedExecutor:
    def __init__(self, inner: Executor, instrumentation: Instrumentation) -> None:
        self._inner = inner
        self.dialect_name = inner.dialect_name
        self._observer = instrumentation.observer
        self._tracer = instrumentation.tracer
        self._system = instrumentation.system

    async def rows(self, statement: Executable, params: Params) -> list[Row]:
        rows: list[Row] = await self._run(statement, self._inner.rows, params)
        return rows

    async def rowcount(self, statement: Executable, params: Mapping[str, Any]) -> int:
        count: int = await self._run(statement, self._inner.rowcount, params)
        return count

    async def _run(
        self, statement: Executable, run: Callable[[Executable, Any], Any], params: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            if self._tracer is None:
                return await run(statement, params)
            name = operation_name(statement)
            with self._tracer.start_as_current_span(
                name, kind=_client_kind(), attributes=self._attributes(name)
            ):
                return await run(statement, params)
        finally:
            if self._observer is not None:
                elapsed = time.perf_counter() - started
                self._observer.statement(operation_name(statement), elapsed)

    def _attributes(self, name: str) -> dict[str, str]:
        return {
            "db.system.name": self._system,
            "db.operation.name": name.split(" ", 1)[0],
            "db.query.summary": name,
        }


def _client_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


def instrumented(executor: Executor, instrumentation: Instrumentation | None) -> Executor:
    if instrumentation is None or not instrumentation.active:
        return executor
    return InstrumentedExecutor(executor, instrumentation)
