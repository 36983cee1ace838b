"""Driver failures, translated: "unavailable" becomes the application's
`StorageUnavailable`, a unique-index violation on the email key is recognised."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import exc as sa_exc

from users_service.adapters.sqlalchemy.pooler import PoolerWithoutSetting
from users_service.adapters.sqlalchemy.tables import EMAIL_KEY_INDEX
from users_service.application.errors import StorageNotReady, StorageUnavailable

# SQLSTATE classes that mean "try again later", not "your request is wrong":
# 08 connection exception, 40 transaction rollback (serialisation, deadlock),
# 53 insufficient resources, 57 operator intervention (statement timeout, shutdown),
# 55P03 lock not available; and two that mean "this connection is the wrong one": 26000
# (no such prepared statement: a pooler swapped the server under it) and 25006 (a
# read-only server: a standby, or a primary that was demoted). The connection is discarded.
# A server that refuses the connection itself (28 authorization, 3D000 no such database:
# a standby still replaying, or a configuration error) leaves the service unavailable too.
_TRANSIENT_SQLSTATE_PREFIXES = (
    "08", "40", "53", "57", "55P03", "26000", "25006", "28", "3D000",
)  # fmt: skip


class PoolTimeout(Exception):
    """Every connection of the pool stayed lent for DB_POOL_TIMEOUT."""


_SQLITE_NO_SUCH_TABLE = "no such table"


def is_transient(error: BaseException) -> bool:
    """True when `error` means the database is unreachable, overloaded or timed out."""
    if isinstance(
        error,
        PoolTimeout
        | sa_exc.TimeoutError
        | OSError
        | asyncio.TimeoutError
        | asyncpg.exceptions.InterfaceError,
    ):
        return True
    if any(isinstance(cause, PoolerWithoutSetting) for cause in _chain(error)):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            # SQLite reports a missing table as an operational error: a schema that was
            # never migrated is no outage, and is reported as what it is.
            return _SQLITE_NO_SUCH_TABLE not in str(error.orig)
    sqlstate = _sqlstate(error)
    return sqlstate is not None and sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES)


def is_missing_schema(error: BaseException) -> bool:
    """True when `error` says a table does not exist: the schema was never migrated."""
    if _sqlstate(error) == "42P01":  # undefined_table
        return True
    return any(_SQLITE_NO_SUCH_TABLE in str(cause) for cause in _chain(error))


def missing_schema() -> StorageNotReady:
    """What a request that met a missing table says (the driver's error is its cause)."""
    return StorageNotReady("The database has no schema: run `users-service migrate`.")


def is_unique_violation(error: BaseException, index: str = EMAIL_KEY_INDEX) -> bool:
    """True when `error` is a violation of the unique `index` (the email index unless
    named)."""
    for cause in _chain(error):
        if getattr(cause, "constraint_name", None) == index:
            return True
        if isinstance(cause, sa_exc.IntegrityError) and index in str(cause.orig):
            return True
    return False


def is_foreign_key_violation(error: BaseException) -> bool:
    """True when `error` is a foreign key's refusal (a membership of a vanished user)."""
    for cause in _chain(error):
        if getattr(cause, "sqlstate", None) == "23503":
            return True
        if isinstance(cause, sa_exc.IntegrityError) and "FOREIGN KEY" in str(cause.orig):
            return True
    return False


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return chain


def _sqlstate(error: BaseException) -> str | None:
    for cause in _chain(error):
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def unavailable(error: BaseException) -> StorageUnavailable:
    if isinstance(error, PoolTimeout | sa_exc.TimeoutError):
        return StorageUnavailable("No database connection became free in time.", "pool_timeout")
    return StorageUnavailable("The database did not answer.", cause_of(error))


# SQLSTATE (or its class) -> the cause a 503 is counted under.
_CAUSES = (
    ("57014", "statement_timeout"),  # query_canceled: statement_timeout
    ("55P03", "statement_timeout"),  # lock_not_available: lock_timeout
    ("25006", "read_only"),
    ("26000", "pooler"),
    ("53", "overloaded"),
    ("40", "overloaded"),
)


def cause_of(error: BaseException) -> str:
    """Why the database was unavailable, in a word (the metrics' `cause` label)."""
    chain = _chain(error)
    if any(isinstance(c, PoolerWithoutSetting) for c in chain):
        return "pooler"
    if any(isinstance(c, asyncio.TimeoutError) for c in chain):
        return "statement_timeout"  # asyncpg's command_timeout: a silent database
    sqlstate = _sqlstate(error)
    if sqlstate is not None:
        for prefix, cause in _CAUSES:
            if sqlstate.startswith(prefix):
                return cause
    return "unreachable"
