"""Translation of driver failures into the application's `StorageUnavailable`."""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa_exc

from application.errors import StorageUnavailable

# SQLSTATE classes that mean "try again later", not "your request is wrong":
# 08 connection exception, 40 transaction rollback (serialisation, deadlock),
# 53 insufficient resources, 57 operator intervention (statement timeout, shutdown),
# 55P03 lock not available.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57", "55P03")


def is_transient(error: BaseException) -> bool:
    """True when `error` means the database is unreachable, overloaded or timed out."""
    if isinstance(error, sa_exc.TimeoutError | OSError | asyncio.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        sqlstate = _sqlstate(error)
        return sqlstate is not None and sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    return False


def _sqlstate(error: sa_exc.DBAPIError) -> str | None:
    cause: BaseException | None = error.orig
    while cause is not None:
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str):
            return state
        cause = cause.__cause__
    return None


def unavailable(error: BaseException) -> StorageUnavailable:
    if isinstance(error, sa_exc.TimeoutError):
        return StorageUnavailable("No database connection became free in time.")
    return StorageUnavailable("The database did not answer.")
