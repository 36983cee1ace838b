"""PostgreSQL: an asyncpg pool of the adapter's own, through asyncpg's public API.

The statements are SQLAlchemy Core (`statements.py`), compiled once with SQLAlchemy's
asyncpg dialect (`compiled.py`) and run by `executors.DriverExecutor` on a connection
this pool lends. The URL is SQLAlchemy's (`postgresql+asyncpg://...`, several
`host=` and `target_session_attrs` included), turned into asyncpg's connect arguments by
the dialect's own `create_connect_args`; multi-host failover is asyncpg's.

How the pool maps the engine's settings:

- `DB_POOL_SIZE` + `DB_MAX_OVERFLOW`: the most connections it opens. They are opened on
  demand and kept.
- `DB_POOL_TIMEOUT`: how long a unit of work waits for a connection when all are lent
  (then `PoolTimeout`, a 503 counted as `pool_timeout`).
- `DB_POOL_RECYCLE`: seconds an idle connection is kept before it is closed (it is
  opened again on demand), asyncpg's `max_inactive_connection_lifetime`.
- `DB_POOL_PRE_PING`: each lent connection is checked with a round trip first; a dead
  one is discarded and another one lent.
- Connections are not reset when they come back: the session settles its own
  transaction, and terminates a connection it could not settle (`DriverSession`); the
  service keeps no other session state (its only lock is transaction-scoped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect, make_url

from users_service.adapters.sqlalchemy import engine, pooler
from users_service.adapters.sqlalchemy.compiled import StatementCache
from users_service.adapters.sqlalchemy.engine import EngineOptions, PoolUse
from users_service.adapters.sqlalchemy.errors import PoolTimeout
from users_service.adapters.sqlalchemy.executors import DriverExecutor, Executor

logger = logging.getLogger("users_service")
sql_logger = logging.getLogger("users_service.sql")

_PING = "SELECT 1"
_BEGIN = "BEGIN"
# One snapshot for every statement of the transaction, reads only (exports).
_BEGIN_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


async def _nothing_to_reset(_connection: Any) -> None:
    """Connections come back settled (see the module's docstring)."""


def begin_sql(set_locals: Sequence[str], *, snapshot: bool) -> str:
    """BEGIN, and what each transaction sets first, in one round trip."""
    return "; ".join([_BEGIN_SNAPSHOT if snapshot else _BEGIN, *set_locals])


class PostgresDatabase:
    """The service's `Database` on PostgreSQL: the pool, lending `DriverSession`s.

    Read-only and insert-only units run without BEGIN/COMMIT: asyncpg autocommits each
    statement, so a read is one round trip. Writers open a transaction and roll it back
    unless committed."""

    dialect_name = "postgresql"

    def __init__(self, options: EngineOptions) -> None:
        url = make_url(options.url).set(drivername="postgresql+asyncpg")
        self.dialect: Dialect = url.get_dialect()()
        _, connect_arguments = self.dialect.create_connect_args(url)
        self.statements = StatementCache(self.dialect)
        self.echo = sql_logger if options.echo else None
        # Behind a pooler, the timeouts it cannot carry, sent with each BEGIN.
        self.set_locals: Sequence[str] = (
            pooler.timeouts_sql(options.statement_timeout) if options.pgbouncer else ()
        )
        self._options = options
        self._arguments: dict[str, Any] = {
            **connect_arguments,
            **engine.connect_arguments(options),
            **({"statement_cache_size": 0} if options.pgbouncer else {}),
        }
        self._pool: asyncpg.Pool | None = None
        self._starting = asyncio.Lock()
        self._warned = False
        self._lent = 0
        self._acquiring = 0

    @property
    def max_size(self) -> int:
        return self._options.pool_size + self._options.max_overflow

    async def _started(self) -> asyncpg.Pool:
        """The pool, made at the first use (in the event loop that uses it)."""
        async with self._starting:
            if self._pool is None:
                pool = asyncpg.create_pool(
                    min_size=0,
                    max_size=self.max_size,
                    max_inactive_connection_lifetime=max(self._options.pool_recycle, 0),
                    init=None if self._options.pgbouncer else self._refuse_poolers,
                    reset=_nothing_to_reset,
                    **self._arguments,
                )
                await pool
                self._pool = pool
            return self._pool

    async def session(self, *, read_only: bool, insert_only: bool, snapshot: bool) -> DriverSession:
        session = DriverSession(self, await self.acquire())
        if snapshot or not (read_only or insert_only):
            try:
                await session.begin(begin_sql(self.set_locals, snapshot=snapshot))
            except BaseException:
                await session.close(failed=True)
                raise
        return session

    async def acquire(self) -> Any:
        """A connection; `PoolTimeout` when none became free within DB_POOL_TIMEOUT."""
        pool = self._pool or await self._started()
        connection = await self._acquire(pool)
        if self._options.pool_pre_ping:
            try:
                await connection.execute(_PING)
            except Exception:  # whatever the driver says, it cannot be used: another one
                await self.release(connection, discard=True)
                connection = await self._acquire(pool)
            except BaseException:  # cancelled while pinging: in doubt, discarded
                await self.release(connection, discard=True)
                raise
        return connection

    async def _acquire(self, pool: asyncpg.Pool) -> Any:
        # While fewer than the most are lent or asked for, one is free at once (or being
        # opened, bound by DB_CONNECT_TIMEOUT): the wait for a free one, DB_POOL_TIMEOUT,
        # is set when every connection is lent or promised to an earlier caller.
        saturated = self._lent + self._acquiring >= self.max_size
        self._acquiring += 1
        try:
            connection = await pool.acquire(
                timeout=self._options.pool_timeout if saturated else None
            )
        except TimeoutError:
            if saturated:
                raise PoolTimeout() from None
            raise  # a connection being opened timed out: the database did not answer
        except Exception as exc:
            if pooler.REFUSED_PARAMETER in str(exc):
                self._warn_pooler()
            raise
        finally:
            self._acquiring -= 1
        self._lent += 1
        return connection

    async def release(self, connection: Any, *, discard: bool) -> None:
        """Give `connection` back: discarded (closed at once) when its state is in doubt,
        or when it is still in a transaction."""
        self._lent -= 1
        try:
            if discard or connection.is_in_transaction():
                connection.terminate()
        except asyncpg.InterfaceError:
            return  # it closed under the session, and asyncpg's pool took it back then
        pool = self._pool
        if pool is not None:
            await pool.release(connection)  # shielded by asyncpg

    async def _refuse_poolers(self, connection: asyncpg.Connection) -> None:
        """Runs once per new connection: one through a pooler while DB_PGBOUNCER is unset
        is refused (see pooler.py)."""
        server_pid = await connection.fetchval("SELECT pg_backend_pid()")
        if server_pid != connection.get_server_pid():
            self._warn_pooler()
            raise pooler.PoolerWithoutSetting()

    def _warn_pooler(self) -> None:
        if not self._warned:  # one line per process, not one per request
            self._warned = True
            logger.error(str(pooler.PoolerWithoutSetting()))

    def use(self) -> PoolUse:
        pool = self._pool
        if pool is None:
            return PoolUse(used=0, idle=0, max=self.max_size)
        idle = pool.get_idle_size()
        return PoolUse(used=pool.get_size() - idle, idle=idle, max=self.max_size)

    async def dispose(self) -> None:
        """Close every connection, waiting for lent ones to come back; cancelled (a
        caller's time limit), it closes them at once."""
        pool = self._pool
        if pool is None:
            return
        try:
            await pool.close()  # lent connections come back to it meanwhile
        except BaseException:
            pool.terminate()
            raise
        finally:
            self._pool = None


class DriverSession:
    """A lent connection and its transaction. A connection whose state is in doubt (a
    failure or a cancellation mid-statement, or a transaction it could not end) is
    terminated, never lent again."""

    def __init__(self, database: PostgresDatabase, connection: Any) -> None:
        self._database = database
        self._connection = connection
        self._in_transaction = False
        self.executor: Executor = DriverExecutor(connection, database.statements, database.echo)

    async def begin(self, sql: str) -> None:
        """Open the transaction (`sql`: BEGIN and what goes with it, one round trip)."""
        await self._connection.execute(sql)
        self._in_transaction = True

    async def commit(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            await self._connection.execute("COMMIT")

    async def close(self, failed: bool) -> None:
        if not self._in_transaction:  # nothing to settle; the release is shielded
            await self._database.release(self._connection, discard=failed)
            return
        # Shielded: a cancelled request must still end its transaction and give the
        # connection back (or discard it).
        await asyncio.shield(self._settle(failed))

    async def _settle(self, failed: bool) -> None:
        self._in_transaction = False
        try:
            await self._connection.execute("ROLLBACK")
        except Exception:
            failed = True  # closed, or in doubt: discarded
        await self._database.release(self._connection, discard=failed)
