"""Canaries for the library internals the speed work relies on.

Each hook is private or semi-public, so an upgrade may take it away without notice. The
upper bounds in pyproject.toml keep such an upgrade out of the lock; when one is lifted,
these tests say which hook broke and where it is used, before any subtler test fails.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool

from tests.support.emails import EMAILS
from users_service.adapters.email_syntax import fast_path


def test_email_validator_looks_up_split_and_domain_check_at_call_time() -> None:
    """`adapters/email_syntax/fast_path.py` replaces both names in email-validator's module."""
    assert EMAILS is not None  # the service's authority, which installs the fast path
    module = import_module("email_validator.validate_email")
    names = set(module.validate_email.__code__.co_names)
    for hook in ("split_email", "validate_email_domain_name"):
        assert hasattr(module, hook), f"email_validator.validate_email.{hook} is gone"
        assert hook in names, (
            f"validate_email no longer calls the module-level {hook}: the fast path in "
            "adapters/email_syntax/fast_path.py would be silently skipped"
        )
    assert module.split_email is fast_path.split  # the replacement is the one in place


@pytest.mark.parametrize("pre_ping", [True, False])
def test_queue_pool_exposes_its_pre_ping_flag(pre_ping: bool, tmp_path: Path) -> None:
    """`adapters/sqlalchemy/unit_of_work._pre_pings` reads `QueuePool._pre_ping`."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}", pool_pre_ping=pre_ping
    )
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    assert getattr(pool, "_pre_ping", None) is pre_ping, "QueuePool._pre_ping changed"


def test_asyncpg_dialect_takes_an_async_creator() -> None:
    """`adapters/sqlalchemy/engine.py` passes `async_creator_fn` in connect_args."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

    source = inspect.getsource(AsyncAdapt_asyncpg_dbapi.connect)
    assert '"async_creator_fn"' in source, (
        "the asyncpg dialect no longer reads async_creator_fn: connections would be "
        "opened by asyncpg.connect directly, eagerly"
    )


async def test_sync_checkout_needing_io_raises_missing_greenlet_first(tmp_path: Path) -> None:
    """`unit_of_work._checkout` tries the pool's synchronous checkout outside a greenlet
    and relies on SQLAlchemy raising MissingGreenlet before any I/O, taking its record
    back, when a connection must be opened."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}")
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    try:
        with pytest.raises(MissingGreenlet):
            engine.sync_engine.raw_connection()
        assert pool.checkedout() == 0, "a failed checkout kept its connection record"
        connection = await engine.raw_connection()  # the usual way still works after it
        connection.close()
    finally:
        await engine.dispose()


def test_fastapi_route_handler_hook() -> None:
    """`entrypoints/http/routing.ProtectedRoute` overrides `get_route_handler` and reads
    `body_field`."""
    assert callable(getattr(APIRoute, "get_route_handler", None)), "APIRoute hook is gone"

    async def endpoint(payload: dict[str, str]) -> None:
        return None

    route = APIRoute("/x", endpoint, methods=["POST"])
    assert hasattr(route, "body_field"), "APIRoute.body_field is gone"
    assert route.body_field is not None


def test_fastapi_native_telemetry_switch() -> None:
    """`entrypoints/http/app.py` turns FastAPI's native telemetry off by default."""
    from fastapi.telemetry import TelemetryConfig

    assert set(TelemetryConfig.__annotations__) >= {"tracing", "metrics", "logs"}
    assert "telemetry" in inspect.signature(FastAPI).parameters


async def test_routes_appended_to_the_router_are_routed() -> None:
    """`entrypoints/http/app._mount` appends routes to `app.router.routes` directly."""

    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app = FastAPI()
    app.router.routes.append(APIRoute("/ping", ping, methods=["GET"]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/ping")
    assert response.status_code == 200, "routes appended to app.router.routes are not routed"
    assert response.json() == {"pong": "yes"}


@pytest.mark.parametrize("hook", ["checkout", "checkin", "reset"])
def test_pool_dispatch_tells_whether_listeners_exist(hook: str, tmp_path: Path) -> None:
    """`fast_path._has_listeners` reads `pool.dispatch.<event>` as a truthy list."""
    from sqlalchemy import event

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}")
    pool = engine.sync_engine.pool
    assert not getattr(pool.dispatch, hook), f"pool.dispatch.{hook} is not an empty list"
    event.listen(pool, hook, lambda *_: None)
    assert getattr(pool.dispatch, hook), f"pool.dispatch.{hook} no longer lists listeners"


def test_compiled_statements_expose_what_the_fast_path_reads() -> None:
    """`fast_path._Compiled` reads the compiler's string, positional names, binds and its
    post-compile parameter sets."""
    from sqlalchemy import bindparam, column, select, table
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.sql.compiler import SQLCompiler

    users = table("users", column("id"))
    plain = select(users.c.id).where(users.c.id == bindparam("id"))
    compiled = plain.compile(dialect=postgresql.asyncpg.dialect())
    assert isinstance(compiled, SQLCompiler)
    assert compiled.positiontup == ["id"], "SQLCompiler.positiontup changed"
    assert "id" in compiled.binds, "SQLCompiler.binds changed"
    assert compiled.post_compile_params == frozenset()
    assert compiled.literal_execute_params == frozenset()
    expanding = select(users.c.id).where(users.c.id.in_(bindparam("ids", expanding=True)))
    compiled = expanding.compile(dialect=postgresql.asyncpg.dialect())
    assert isinstance(compiled, SQLCompiler)
    assert compiled.post_compile_params, "post-compile parameters are no longer listed"


def test_the_fast_path_refuses_what_it_would_run_wrongly() -> None:
    from sqlalchemy import DateTime, bindparam, column, select, table
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.types import TypeDecorator

    from users_service.adapters.sqlalchemy.fast_path import StatementCache, UnsupportedStatement

    class Shifted(TypeDecorator[object]):
        impl = DateTime()
        cache_ok = True

        def process_result_value(self, value: object, dialect: object) -> object:
            return value

    cache = StatementCache(postgresql.asyncpg.dialect())
    users = table("users", column("id"), column("at", Shifted()))
    with pytest.raises(UnsupportedStatement, match="result processor"):
        cache(select(users.c.at))
    with pytest.raises(UnsupportedStatement, match="post-compile"):
        cache(select(users.c.id).where(users.c.id.in_(bindparam("ids", expanding=True))))
    statement = select(users.c.id).where(users.c.id == bindparam("id"))
    assert cache(statement) is cache(statement)  # cached by the statement itself


def test_asyncpg_unnamed_statement_hooks() -> None:
    """`adapters/sqlalchemy/fast_path.UnnamedStatements` (behind PgBouncer) calls
    `Connection._get_statement(sql, timeout, use_cache=False)` and
    `protocol.bind_execute(state, args, portal, limit, return_extra, timeout)`, and reads
    the state's `name` and `prepared`. (tests/integration/test_unnamed_statements.py checks
    what they do on a real server.)"""
    import asyncpg
    from asyncpg.protocol.protocol import BaseProtocol, PreparedStatementState

    parameters = inspect.signature(asyncpg.Connection._get_statement).parameters
    assert list(parameters)[:3] == ["self", "query", "timeout"]
    assert "use_cache" in parameters, "Connection._get_statement lost use_cache"
    assert hasattr(BaseProtocol, "bind_execute"), "the protocol lost bind_execute"
    for attribute in ("name", "prepared"):
        assert hasattr(PreparedStatementState, attribute), attribute


@pytest.mark.parametrize("multiprocess", [False, True])
def test_histogram_children_keep_bucket_and_sum_values(
    multiprocess: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`adapters/metrics/tally.py` adds its tallies to a histogram child's `_buckets` and
    `_sum`: the same exposition as observing each value, in both of the client's modes."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest, values
    from prometheus_client import multiprocess as files

    from users_service.adapters.metrics.tally import HistogramTally

    observed = [0.0, 0.004, 0.005, 0.0051, 0.3, 7.0, 11.0, 11.0]
    bounds = (0.005, 0.01, 0.5, 10.0)
    pages = []
    try:
        for batched in (False, True):
            folder = tmp_path / str(batched)
            folder.mkdir()
            if multiprocess:  # the value class is chosen from the environment
                monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
            values.ValueClass = values.get_value_class()
            registry = CollectorRegistry()
            histogram = Histogram("d", "d", ("k",), buckets=bounds, registry=registry)
            child = histogram.labels("x")
            assert len(child._buckets) == len(bounds) + 1
            assert hasattr(child._sum, "inc")
            tally = HistogramTally(child, bounds, batched)
            for value in observed:
                tally.observe(value)
            tally.flush()
            tally.flush()  # an empty tally adds nothing
            if multiprocess:
                registry = CollectorRegistry()
                files.MultiProcessCollector(registry, str(folder))
            page = generate_latest(registry).decode()
            pages.append([line for line in page.splitlines() if "_created" not in line])
    finally:
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
        values.ValueClass = values.get_value_class()
    direct, tallied = pages
    assert 'd_bucket{k="x",le="0.005"} 3.0' in direct
    assert 'd_bucket{k="x",le="+Inf"} 8.0' in direct
    assert tallied == direct
