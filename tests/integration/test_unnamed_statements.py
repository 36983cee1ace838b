"""Behind PgBouncer the fast path keeps each unnamed statement's description per
connection and runs it in one round trip (`fast_path.UnnamedStatements`). What that
relies on in asyncpg, on a real server: the kept state is unnamed and unprepared, so every
execution parses it anew in the same batch, and the right statement runs even after
another unnamed statement has replaced it on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.support import databases
from users_service.adapters.sqlalchemy.fast_path import UnnamedStatements
from users_service.adapters.sqlalchemy.pooler import pgbouncer_connect_args

pytestmark = pytest.mark.postgres


@pytest.fixture
async def connection(postgres_url: str) -> AsyncIterator[Any]:
    args = pgbouncer_connect_args()
    connection = await asyncpg.connect(
        databases.dsn(postgres_url), statement_cache_size=args["statement_cache_size"]
    )
    try:
        yield connection
    finally:
        await connection.close()


async def _prepared_statements(connection: Any) -> int:
    count: int = await connection.fetchval("SELECT count(*) FROM pg_prepared_statements")
    return count


async def test_kept_states_are_unnamed_and_parsed_with_every_execution(connection: Any) -> None:
    state = await connection._get_statement("SELECT $1::int + 1 AS n", None, use_cache=False)
    assert state.name == ""
    assert state.prepared is False  # bind_execute sends Parse again, in its own batch

    unnamed = UnnamedStatements()
    first = "SELECT $1::int + 1 AS n"
    second = "SELECT $1::text || '!' AS s"
    assert [tuple(r) for r in await unnamed.fetch(connection, first, [1])] == [(2,)]
    # Another unnamed statement replaces the first on the server...
    assert [tuple(r) for r in await unnamed.fetch(connection, second, ["a"])] == [("a!",)]
    # ...and the kept first one still runs as itself, from its own Parse.
    assert [tuple(r) for r in await unnamed.fetch(connection, first, [41])] == [(42,)]
    assert await _prepared_statements(connection) == 0  # nothing named left behind


async def test_execute_returns_the_command_tag(connection: Any) -> None:
    unnamed = UnnamedStatements()
    await connection.execute("CREATE TEMP TABLE t (n int)")
    assert await unnamed.execute(connection, "INSERT INTO t SELECT generate_series(1, $1)", [3])
    status = await unnamed.execute(connection, "DELETE FROM t WHERE n > $1", [1])
    assert status == "DELETE 2"


async def test_the_description_is_kept_per_connection_and_statement(
    connection: Any, postgres_url: str
) -> None:
    unnamed = UnnamedStatements()
    sql = "SELECT $1::int"
    for i in range(3):
        assert [tuple(r) for r in await unnamed.fetch(connection, sql, [i])] == [(i,)]
    kept = await unnamed._state(connection, sql)
    assert await unnamed._state(connection, sql) is kept  # described once, then reused
    other = await asyncpg.connect(databases.dsn(postgres_url), statement_cache_size=0)
    try:
        assert await unnamed._state(other, sql) is not kept  # never shared across connections
    finally:
        await other.close()
