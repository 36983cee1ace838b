"""Behind a transaction-mode pooler (PgBouncer): what changes, and how one is noticed.

With `DB_PGBOUNCER=true` every transaction may run on another server connection, so:

- no named prepared statements: asyncpg's statement cache is off, so each statement is
  an unnamed one, described and then parsed again in the same message batch as its
  execution (so on the same server connection);
- no startup parameters but `application_name` (PgBouncer refuses or drops the others):
  `statement_timeout`, `lock_timeout` and `jit` come from the role's settings instead
  (`role_settings`, applied by `users-service migrate --role-settings`), with asyncpg's
  client-side `command_timeout` as the backstop, and `SET LOCAL` sent with the BEGIN of
  the transactions that exist anyway (`postgres.begin_sql`);
- no session state that outlives a transaction.

Without the setting, a pooler is noticed when a connection is made (`postgres.py`):
PgBouncer answers the client with its own cancel key, so the backend pid the driver was
told differs from the one the server reports (`pg_backend_pid()`). Such a connection is
refused (`PoolerWithoutSetting`, a 503), and readiness stays 503 until the setting is
made. (A PgBouncer that refuses the startup parameters refuses the connection first: a
503 too, with the same log line.) Migrations run on PostgreSQL itself
(DATABASE_MIGRATION_URL), never through a pooler.
"""

from __future__ import annotations


class PoolerWithoutSetting(Exception):
    """Connected through a connection pooler while DB_PGBOUNCER is not set."""

    def __init__(self) -> None:
        super().__init__(
            "The database connection goes through a connection pooler (PgBouncer): "
            "set DB_PGBOUNCER=true, or point DATABASE_URL at PostgreSQL itself."
        )


def server_settings(statement_timeout: float, *, pgbouncer: bool) -> dict[str, str]:
    """The startup parameters of each connection (behind a pooler: the name alone)."""
    settings = {"application_name": "users-service"}
    if pgbouncer:
        return settings  # the rest come from the role's settings (role_settings)
    statement_ms = str(milliseconds(statement_timeout))
    return settings | {
        "statement_timeout": statement_ms,
        "lock_timeout": statement_ms,
        # Short OLTP statements never profit from JIT; it only adds latency.
        "jit": "off",
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


REFUSED_PARAMETER = "unsupported startup parameter"
