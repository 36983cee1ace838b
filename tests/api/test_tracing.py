"""Traces: a server span per request named by its route template, a child span for every
database statement on either execution path, a client span for the JWKS fetch, W3C
`traceparent` honoured in and propagated out, and trace ids on log lines. Recorded with
the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from dependency_injector import providers
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from tests.support.app import Service, serve
from tests.support.http import create
from tests.support.jwks_server import JwksServer
from tests.support.settings import IsolatedSettings
from tests.support.tokens import SECRET, bearer, rsa_key, token
from users_service.application.errors import StorageUnavailable
from users_service.entrypoints.container import Container, container_for
from users_service.entrypoints.logging_config import JsonFormatter
from users_service.entrypoints.settings import Settings
from users_service.entrypoints.tracing import (
    TracingUnavailable,
    tracing_from_environment,
    tracing_with,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@dataclass
class Traced:
    service: Service
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def server_span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.kind is SpanKind.SERVER and s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        parent_id = parent.context.span_id
        return [s for s in self.spans() if s.parent is not None and s.parent.span_id == parent_id]


def traced_container(settings: Settings) -> tuple[Container, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    container = container_for(settings)
    container.tracing.override(providers.Object(tracing_with(provider)))
    return container, exporter


@pytest.fixture
async def traced(settings: Settings) -> AsyncIterator[Traced]:
    container, exporter = traced_container(settings)
    async with serve(container, headers=bearer(token())) as service:
        exporter.clear()
        yield Traced(service, exporter)


async def test_server_span_by_route_with_a_child_per_statement(
    traced: Traced, database_url: str
) -> None:
    user = await create(traced.service.client, "span@example.com")
    traced.exporter.clear()
    assert (await traced.service.client.get(f"/users/{user['id']}")).status_code == 200
    server = traced.server_span("GET /users/{user_id}")
    attributes = dict(server.attributes or {})
    assert attributes["http.route"] == "/users/{user_id}"
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    statements = traced.children(server)
    if database_url.startswith("memory"):
        assert statements == []  # no database, no statement
        return
    assert [s.name for s in statements] == ["SELECT users"]
    (select,) = statements
    assert select.kind is SpanKind.CLIENT
    assert select.context.trace_id == server.context.trace_id
    assert dict(select.attributes or {})["db.system.name"] == "postgresql"


async def test_traceparent_is_honoured(traced: Traced) -> None:
    header = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    assert (await traced.service.client.get("/users", headers=header)).status_code == 200
    server = traced.server_span("GET /users")
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == PARENT_ID


async def test_unknown_paths_name_no_route(traced: Traced) -> None:
    assert (await traced.service.client.get("/nope/123")).status_code == 404
    (span,) = [s for s in traced.spans() if s.kind is SpanKind.SERVER]
    assert span.name == "GET"
    assert "http.route" not in dict(span.attributes or {})


async def test_log_lines_carry_the_trace(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    class Down:
        async def __call__(self, *_args: Any, **_kwargs: Any) -> None:
            raise StorageUnavailable("The database did not answer.", "unreachable")

    container, exporter = traced_container(settings)
    container.get_user.override(providers.Object(Down()))
    formatter = JsonFormatter()
    lines = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))  # formatted while the span is active

    handler = Capture()
    logging.getLogger("users_service").addHandler(handler)
    try:
        async with serve(container, headers=bearer(token())) as service:
            assert (await service.client.get("/users/7")).status_code == 503
    finally:
        logging.getLogger("users_service").removeHandler(handler)
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    warnings = [line for line in lines if "unavailable" in line]
    assert warnings, lines
    assert f'"trace_id":"{span.context.trace_id:032x}"' in warnings[0]
    assert f'"span_id":"{span.context.span_id:016x}"' in warnings[0]


async def test_without_tracing_log_lines_have_no_trace_fields(client: Any) -> None:
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO"})
    assert "trace_id" not in JsonFormatter().format(record)


async def test_the_jwks_fetch_is_a_client_span_that_carries_the_trace() -> None:
    key = rsa_key()
    async with JwksServer() as jwks:
        jwks.keys["k1"] = key
        settings = IsolatedSettings(database_url="memory://", auth_jwks_url=jwks.url)
        container, exporter = traced_container(settings)
        signed = jwt.encode(
            {"sub": "s", "scope": "users:read", "exp": 4102444800},
            key,
            "RS256",
            headers={"kid": "k1"},
        )
        async with serve(container, headers=bearer(signed)) as service:
            exporter.clear()
            assert (await service.client.get("/users")).status_code == 200
        traced = Traced(service, exporter)
        server = traced.server_span("GET /users")
        (fetch,) = traced.children(server)
        assert fetch.kind is SpanKind.CLIENT
        assert dict(fetch.attributes or {})["http.response.status_code"] == 200
        sent = jwks.headers[-1]["traceparent"]
        assert sent.split("-")[1] == f"{server.context.trace_id:032x}"
        assert sent.split("-")[2] == f"{fetch.context.span_id:016x}"


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert tracing_from_environment({}) is None
    assert tracing_from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    console = tracing_from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert console is not None
    console.shutdown()
    with pytest.raises(TracingUnavailable, match="otlp, console or none"):
        tracing_from_environment({"OTEL_TRACES_EXPORTER": "jaeger"})


async def test_tracing_off_records_nothing(settings: Settings) -> None:
    settings = settings.model_copy(update={"auth_jwt_secret": SecretStr(SECRET)})
    container = container_for(settings)
    assert container.tracing() is None
    assert container.instrumentation() is not None  # metrics still time statements
