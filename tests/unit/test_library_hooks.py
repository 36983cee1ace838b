"""What the service relies on in its libraries beyond their most common calls.

Each is public API, but used where an upgrade could change it quietly: these tests say
which one changed and where it is used, before any subtler test fails.
"""

from __future__ import annotations

import inspect

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute


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


def test_compiled_statements_expose_what_the_driver_reads() -> None:
    """`adapters/sqlalchemy/compiled.CompiledStatement` reads the compiler's string,
    positional names, binds and its post-compile parameter sets."""
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


def test_compilation_refuses_what_the_driver_would_run_wrongly() -> None:
    from sqlalchemy import DateTime, bindparam, column, select, table
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.types import TypeDecorator

    from users_service.adapters.sqlalchemy.compiled import StatementCache, UnsupportedStatement

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
