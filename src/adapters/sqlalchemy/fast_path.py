"""The PostgreSQL fast path: one seam, on by default, off with `DB_FAST_PATH=false`.

Off, PostgreSQL runs through SQLAlchemy's own async execution (`AsyncConnection`, as
SQLite does). On, three things change, each measured with py-spy and an in-process
CPU-time loop on a 2-core host:

- **Execution.** `DriverExecutor` runs each statement's compiled SQL straight on the
  asyncpg connection SQLAlchemy's pool lent: the same SQL and bind processing, without
  SQLAlchemy's execution context, result wrapping and greenlet switches, which cost more
  CPU than the query itself on short reads. Statements compile once, cached by the
  statement object itself; compilation refuses any statement whose execution this path
  would get wrong (post-compile binds, result processors).
- **Transactions.** Read-only and insert-only units run without BEGIN/COMMIT (the
  driver autocommits each statement): a GET is one round trip instead of three.
- **The pool.** An idle pooled connection is taken, and given back while the pool has
  room, without SQLAlchemy's greenlet round trip (15 to 30 µs of CPU per request); any
  checkout or check-in that needs I/O goes the usual way, and so does every one when the
  pool pre-pings or has checkout, check-in or reset listeners (an awaiting listener
  needs the greenlet).

Measured by `make bench` (server CPU time per request, 2 shared cores, 2026-12-01), the
fast path against SQLAlchemy's own execution: GET by id 0.43 ms against 0.94, a list of 50
1.19 against 1.82, a single create 0.52 against 1.29, a batch of 1,000 35.5 against 39.3.
It relies on private SQLAlchemy internals, each with a canary test in
`tests/unit/test_library_hooks.py`: `QueuePool._pre_ping`, the asyncpg dialect's
`async_creator_fn`, `MissingGreenlet` raised before any I/O, a synchronous
`invalidate()`, and the pool's `dispatch` event lists. Behind PgBouncer it also keeps the
descriptions of its unnamed statements (`UnnamedStatements`, on asyncpg internals with
canaries of their own).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import greenlet_spawn

from users_service.adapters.sqlalchemy.executors import Executor, Params, Row


class LazyConnect:
    """`asyncpg.connect(...)`, started only when awaited (the engine's `async_creator_fn`).

    SQLAlchemy builds its connect coroutine around the driver's before it knows whether
    it may await (see `checkout`). When it may not, the outer coroutine is closed
    unstarted; a driver coroutine made in advance would be left unawaited (and Python
    warns about it), while this object is simply dropped.
    """

    __slots__ = ("_args", "_kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs

    def __await__(self) -> Generator[Any, None, Any]:
        connecting: Coroutine[Any, Any, Any] = asyncpg.connect(*self._args, **self._kwargs)
        return connecting.__await__()


class UnsupportedStatement(TypeError):
    """A statement the fast path would run differently from SQLAlchemy."""


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
                "which the fast path does not run"
            )


class _Compiled:
    """SQL text, positional parameter order and the types' bind processors."""

    __slots__ = ("defaults", "names", "processors", "sql")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise UnsupportedStatement("post-compile (expanding) parameters need SQLAlchemy")
        _refuse_result_processors(statement, dialect)
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


class UnnamedStatements:
    """Behind a transaction-mode pooler (`DB_PGBOUNCER`): each statement's description,
    kept per connection, so that it runs in one round trip instead of two.

    There asyncpg's statement cache is off and every statement is unnamed. asyncpg then
    sends Parse and Describe, waits for the description, and sends Parse, Bind and
    Execute again in a second round trip (an unnamed statement is marked unprepared, so
    `bind_execute` always parses it anew, in the same batch and so on the same server
    connection). Kept here, the description is asked for once per connection and
    statement; each execution is then Parse, Bind, Execute and Sync in one batch, with
    nothing left on the server between transactions. Measured by `make bench` through
    PgBouncer: see the README's Scaling section.

    Relies on asyncpg internals, each with a canary in `tests/unit/test_library_hooks.py`:
    `Connection._get_statement(..., use_cache=False)` returns an unnamed, unprepared
    state when the cache is off, and `_protocol.bind_execute` re-parses such a state.
    """

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

    async def _state(self, driver: Any, sql: str) -> Any:
        states = self._states.get(driver)
        if states is None:
            states = self._states[driver] = {}
        state = states.get(sql)
        if state is None:
            state = await driver._get_statement(sql, None, use_cache=False)
            if state.name or state.prepared:  # would outlive the transaction: refuse
                raise RuntimeError("asyncpg kept a named statement behind a pooler")
            states[sql] = state
        return state

    async def fetch(self, driver: Any, sql: str, args: list[Any]) -> list[Row]:
        state = await self._state(driver, sql)
        rows: list[Row] = await driver._protocol.bind_execute(state, args, "", 0, False, None)
        return rows

    async def execute(self, driver: Any, sql: str, args: list[Any]) -> str:
        state = await self._state(driver, sql)
        _, status, _ = await driver._protocol.bind_execute(state, args, "", 0, True, None)
        return bytes(status).decode()


@dataclass(frozen=True, slots=True)
class FastPath:
    """The fast path of one engine: its compiled statements, how a transaction begins
    (behind PgBouncer, with the timeouts a pooler cannot carry: `SET LOCAL`) and, behind
    a pooler, the descriptions of its unnamed statements."""

    cache: StatementCache
    begin: str = "BEGIN"
    unnamed: UnnamedStatements | None = None


class StatementCache:
    """Compiled statements of one engine, keyed by the statement object itself (held
    weakly): an entry can never answer for another statement."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: weakref.WeakKeyDictionary[Executable, _Compiled] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, statement: Executable) -> _Compiled:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = _Compiled(statement, self._dialect)
        return compiled


class DriverExecutor:
    """Compiled statements on a raw asyncpg connection.

    With an echoing engine (DB_ECHO), statements go to the engine's own logger, as they do
    on the generic path.
    """

    def __init__(
        self,
        driver_connection: Any,
        engine: AsyncEngine,
        cache: StatementCache,
        unnamed: UnnamedStatements | None = None,
    ) -> None:
        self._driver = driver_connection
        self._cache = cache
        self._unnamed = unnamed
        self._echo = engine.sync_engine.logger if engine.echo else None
        self.dialect_name = engine.dialect.name

    def _compiled(self, statement: Executable) -> _Compiled:
        compiled = self._cache(statement)
        if self._echo is not None:
            self._echo.info(compiled.sql)
        return compiled

    async def rows(self, statement: Executable, params: Params) -> list[Row]:
        if not isinstance(params, Mapping):
            raise TypeError("on asyncpg, batch with array parameters in one statement")
        compiled = self._compiled(statement)
        if self._unnamed is not None:
            return await self._unnamed.fetch(self._driver, compiled.sql, compiled.arguments(params))
        return list(await self._driver.fetch(compiled.sql, *compiled.arguments(params)))

    async def rowcount(self, statement: Executable, params: Mapping[str, Any]) -> int:
        compiled = self._compiled(statement)
        arguments = compiled.arguments(params)
        if self._unnamed is not None:
            status = await self._unnamed.execute(self._driver, compiled.sql, arguments)
        else:
            status = await self._driver.execute(compiled.sql, *arguments)
        # asyncpg returns the command tag, e.g. "DELETE 3" or "UPDATE 1".
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


def _has_listeners(pool: Pool) -> bool:
    dispatch = pool.dispatch
    return bool(dispatch.checkout or dispatch.checkin or dispatch.reset)


def _pre_pings(pool: QueuePool) -> bool:
    return bool(getattr(pool, "_pre_ping", True))  # unknown: assume it does


def bypass_allowed(pool: Pool) -> bool:
    """Whether the pool may be driven without a greenlet at all."""
    return isinstance(pool, QueuePool) and not _pre_pings(pool) and not _has_listeners(pool)


async def checkout(engine: AsyncEngine) -> PoolProxiedConnection:
    """A connection from SQLAlchemy's pool, without a greenlet round trip when it can.

    `AsyncEngine.raw_connection()` runs the pool's synchronous checkout in a greenlet so
    that it may await, though handing over an idle, live connection awaits nothing. So
    while connections sit idle in the pool, the checkout is tried directly. If it would
    need I/O (a connection to open again after an invalidation or a recycle), SQLAlchemy
    raises `MissingGreenlet` before doing any, takes its connection record back as it
    does for any failed checkout, and the checkout is made again the usual way.
    """
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool) and pool.checkedin() > 0 and bypass_allowed(pool):
        try:
            return engine.sync_engine.raw_connection()
        except MissingGreenlet:
            pass
    return await engine.raw_connection()


class DriverSession:
    """A connection lent by SQLAlchemy's pool, driven through asyncpg.

    A read-only or insert-only session opens no transaction (the driver autocommits
    each statement); a writer opens one and rolls it back unless committed. A connection
    whose state is in doubt (a failure or a cancellation mid-statement) is discarded, not
    pooled.

    Giving the connection back is synchronous when the pool has room for it and no
    listener that might await: check-in then awaits nothing (SQLAlchemy's asyncpg
    adapter awaits only to roll back a transaction of its own, and this session never
    opens one through it; transactions run on the asyncpg connection and are settled
    first). That spares a greenlet round trip (10 µs of CPU or more, measured) per
    request. A surplus (overflow) connection is closed by the pool on check-in, which
    awaits: that one goes the usual, async way.
    """

    def __init__(self, pooled: PoolProxiedConnection, engine: AsyncEngine, fast: FastPath) -> None:
        self._pooled = pooled
        self._pool = engine.sync_engine.pool
        self._driver: Any = pooled.driver_connection
        self._begin = fast.begin
        self._in_transaction = False
        self.executor: Executor = DriverExecutor(self._driver, engine, fast.cache, fast.unnamed)

    async def begin(self, *, snapshot: bool = False) -> None:
        sql = self._begin
        if snapshot:  # one snapshot for every statement of the transaction, reads only
            sql = sql.replace("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 1)
        await self._driver.execute(sql)  # one round trip, SET LOCALs included
        self._in_transaction = True

    async def commit(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            await self._driver.execute("COMMIT")

    def release_now(self, failed: bool) -> bool:
        if self._in_transaction or not self._check_in_awaits_nothing():
            return False
        self._discard_if(failed)
        self._pooled.close()
        return True

    async def close(self, failed: bool) -> None:
        in_transaction, self._in_transaction = self._in_transaction, False
        try:
            if in_transaction and not self._driver.is_closed():
                await self._driver.execute("ROLLBACK")
        except Exception:
            failed = True
        self._discard_if(failed)
        if self._check_in_awaits_nothing():
            self._pooled.close()
        else:
            await greenlet_spawn(self._pooled.close)

    def _discard_if(self, failed: bool) -> None:
        if failed or self._driver.is_in_transaction():
            self._pooled.invalidate()  # outside a greenlet, SQLAlchemy closes it at once

    def _check_in_awaits_nothing(self) -> bool:
        pool = self._pool
        return (
            isinstance(pool, QueuePool)
            and not _has_listeners(pool)
            and pool.checkedin() < pool.size()
        )


async def open_session(
    engine: AsyncEngine, fast: FastPath, *, transaction: bool, snapshot: bool = False
) -> DriverSession:
    session = DriverSession(await checkout(engine), engine, fast)
    if transaction or snapshot:
        try:
            await session.begin(snapshot=snapshot)
        except BaseException:
            await session.close(failed=True)
            raise
    return session
