"""Behind a transaction-mode pooler (PgBouncer): what changes, and how one is noticed.

With `DB_PGBOUNCER=true` every transaction may run on another server connection, so:

- no named prepared statements: asyncpg's statement cache is off, so each statement is
  an unnamed one, described and then parsed again in the same message batch as its
  execution (so on the same server connection); SQLAlchemy's own execution (migrations)
  gives each statement a unique name and caches none (its documented recipe);
- no startup parameters but `application_name` (PgBouncer refuses or drops the others):
  `statement_timeout`, `lock_timeout` and `jit` come from the role's settings instead
  (`role_settings`, applied by `users-service migrate --role-settings`), with asyncpg's
  client-side `command_timeout` as the backstop, and `SET LOCAL` sent with the BEGIN of
  the transactions that exist anyway (`sessions.Driver`);
- no session state that outlives a transaction.

Without the setting, a pooler is noticed when a connection is made: PgBouncer answers the
client with its own cancel key, so the backend pid the driver was told differs from the
one the server reports (`pg_backend_pid()`). Such a connection is refused
(`PoolerWithoutSetting`, a 503), and readiness stays 503 until the setting is made. (A
PgBouncer that refuses the startup parameters refuses the connection first: a 503 too,
with the same log line.)
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("users_service")


class PoolerWithoutSetting(Exception):
    """Connected through a connection pooler while DB_PGBOUNCER is not set."""

    def __init__(self) -> None:
        super().__init__(
            "The database connection goes through a connection pooler (PgBouncer): "
            "set DB_PGBOUNCER=true, or point DATABASE_URL at PostgreSQL itself."
        )


def _unique_statement_name() -> str:
    return f"__users_{uuid.uuid4().hex}__"


def pgbouncer_connect_args() -> dict[str, Any]:
    return {
        "statement_cache_size": 0,  # asyncpg: no named statements
        "prepared_statement_cache_size": 0,  # SQLAlchemy's asyncpg adapter
        "prepared_statement_name_func": _unique_statement_name,
    }


def milliseconds(seconds: float) -> int:
    return int(seconds * 1000)


def timeouts_sql(statement_timeout: float) -> list[str]:
    ms = milliseconds(statement_timeout)
    return [
        f"SET LOCAL statement_timeout = {ms}",
        f"SET LOCAL lock_timeout = {ms}",
    ]


def role_settings(role: str, database: str, statement_timeout: float) -> list[str]:
    """What a pooler cannot carry, as the service role's own settings in its database."""
    ms = milliseconds(statement_timeout)
    target = f'ROLE "{role}" IN DATABASE "{database}"'
    return [
        f"ALTER {target} SET statement_timeout = {ms}",
        f"ALTER {target} SET lock_timeout = {ms}",
        f"ALTER {target} SET jit = off",
    ]


_REFUSED_PARAMETER = "unsupported startup parameter"


def refuse_poolers(engine: AsyncEngine) -> None:
    """Refuse connections that go through a pooler (a pool `connect` listener: it runs
    once per new connection, never on checkout)."""

    warned = False

    def warn_once() -> None:
        nonlocal warned
        if not warned:  # one line per engine (per process), not one per request
            warned = True
            logger.error(str(PoolerWithoutSetting()))

    @event.listens_for(engine.sync_engine.pool, "connect")
    def _check(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        server_pid = dbapi_connection.run_async(lambda c: c.fetchval("SELECT pg_backend_pid()"))
        if server_pid != driver.get_server_pid():
            warn_once()
            raise PoolerWithoutSetting()

    @event.listens_for(engine.sync_engine, "handle_error")
    def _explain(context: Any) -> None:
        # A PgBouncer that refuses our startup parameters refuses the connection itself.
        if _REFUSED_PARAMETER in str(context.original_exception):
            warn_once()
