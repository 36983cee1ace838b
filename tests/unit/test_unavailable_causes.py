"""Each 503 is counted under why the database was unavailable (`users_unavailable_total`'s
`cause`): the driver's own exceptions, classified."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from users_service.adapters.sqlalchemy.errors import unavailable
from users_service.adapters.sqlalchemy.pooler import PoolerWithoutSetting


def _wrapped(error: BaseException) -> BaseException:
    """As SQLAlchemy raises it: a DBAPIError whose `orig` is the driver's."""
    return sa_exc.OperationalError("SELECT 1", {}, error)


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (sa_exc.TimeoutError("QueuePool limit reached"), "pool_timeout"),
        (TimeoutError(), "statement_timeout"),
        (
            _wrapped(asyncpg.exceptions.QueryCanceledError("canceling statement")),
            "statement_timeout",
        ),
        (_wrapped(asyncpg.exceptions.LockNotAvailableError("lock timeout")), "statement_timeout"),
        (_wrapped(asyncpg.exceptions.ReadOnlySQLTransactionError("read-only")), "read_only"),
        (_wrapped(asyncpg.exceptions.InvalidSQLStatementNameError("no such")), "pooler"),
        (_wrapped(asyncpg.exceptions.TooManyConnectionsError("too many")), "overloaded"),
        (_wrapped(asyncpg.exceptions.SerializationError("serialize")), "overloaded"),
        (ConnectionRefusedError(111, "refused"), "unreachable"),
        (_wrapped(asyncpg.exceptions.AdminShutdownError("shutdown")), "unreachable"),
    ],
)
def test_causes(error: BaseException, cause: str) -> None:
    assert unavailable(error).cause == cause


def test_a_pooler_without_the_setting() -> None:
    """The pool's connect listener raises it as it is, or as the cause of another."""
    assert unavailable(PoolerWithoutSetting()).cause == "pooler"
    outer = RuntimeError("connect failed")
    outer.__cause__ = PoolerWithoutSetting()
    assert unavailable(outer).cause == "pooler"
