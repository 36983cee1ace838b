"""Metrics and traces from the installed wheel as a real server process: several workers'
metrics summed by prometheus-client's multiprocess mode (and a killed worker's live gauges
dropped), `METRICS_PORT`, the access log, and spans exported over OTLP/HTTP to a receiver
the test runs (decoded with `opentelemetry-proto`)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.install import Installed
from tests.support.scrape import Scrape
from tests.support.server_process import ServerProcess, free_port, migrate, start
from tests.support.timing import bound
from tests.support.tokens import SECRET, bearer, token

REQUESTS = 40
ROUTE = {"http_route": "/users", "http_response_status_code": "200"}


def _scrape(url: str) -> Scrape:
    response = httpx.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def _wait_for(check: object, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + bound(seconds)
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"never: {what}")


@pytest.fixture
def sqlite_env(installed: Installed) -> dict[str, str]:
    folder = installed.writable_dir("observability")
    env = installed.environment(
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'users.db'}",
        AUTH_JWT_SECRET=SECRET,
        LOG_LEVEL="INFO",
        METRICS_DIR=str(folder / "metrics"),
    )
    migrate(installed, env)
    return env


@pytest.fixture
def two_workers(
    installed: Installed, sqlite_env: dict[str, str], tmp_path: Path
) -> Iterator[ServerProcess]:
    server = start(installed, sqlite_env, "--workers", "2", log=tmp_path / "server.log")
    yield server
    server.terminate()


async def _load(url: str) -> None:
    """New connections, concurrently: the kernel spreads them over the workers."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, headers=bearer(token()), limits=limits) as client:
        answers = await asyncio.gather(*(client.get("/users") for _ in range(REQUESTS)))
    assert {a.status_code for a in answers} == {200}


def test_several_workers_are_summed_and_a_dead_one_drops_out(
    two_workers: ServerProcess,
) -> None:
    asyncio.run(_load(two_workers.url))

    def both_sampled() -> bool:
        return (
            len(_scrape(two_workers.url).label_values("process_resident_memory_bytes", "pid")) == 2
        )

    _wait_for(both_sampled, "both workers' process gauges")  # sampled once a second

    def all_counted() -> bool:  # each worker writes its values to the shared folder
        count = _scrape(two_workers.url).value("http_server_request_duration_seconds_count", ROUTE)
        return count == REQUESTS

    _wait_for(all_counted, "every request counted")
    for _ in range(5):  # whichever worker answers the scrape, it reads every worker's files
        page = _scrape(two_workers.url)
        assert page.value("http_server_request_duration_seconds_count", ROUTE) == REQUESTS
        assert page.value("users_ready") == 1
    pids = _scrape(two_workers.url).label_values("process_resident_memory_bytes", "pid")
    victim = int(sorted(pids)[0])
    os.kill(victim, signal.SIGKILL)

    def victim_dropped() -> bool:
        try:
            page = _scrape(two_workers.url)
        except httpx.TransportError:
            return False
        return str(victim) not in page.label_values("process_resident_memory_bytes", "pid")

    _wait_for(victim_dropped, "the killed worker's live gauges dropped")
    # Counters keep what the dead worker counted: a rate must not go backwards.
    page = _scrape(two_workers.url)
    assert page.value("http_server_request_duration_seconds_count", ROUTE) == REQUESTS


def test_metrics_on_a_port_of_their_own(
    installed: Installed, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = {**sqlite_env, "METRICS_PORT": str(metrics_port), "ACCESS_LOG": "errors"}
    server = start(installed, env, log=tmp_path / "server.log")
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        with httpx.Client(base_url=server.url, headers=bearer(token())) as client:
            assert client.get("/users").status_code == 200
            assert client.get("/users/424242").status_code == 404

        # That port's server thread reads what the loop flushed, once a second.
        def counted() -> bool:
            page = _scrape(f"http://127.0.0.1:{metrics_port}")
            return page.value("http_server_request_duration_seconds_count", ROUTE) == 1

        _wait_for(counted, "the request counted")
        page = _scrape(f"http://127.0.0.1:{metrics_port}")
        assert page.value("http_server_request_duration_seconds_count", ROUTE) == 1
        assert page.value("process_cpu_seconds_total") > 0  # the client's process collector
    finally:
        assert server.terminate() == 0
    requests = [
        orjson.loads(line)
        for line in server.output().splitlines()
        if line.startswith("{") and '"msg":"request"' in line
    ]
    # ACCESS_LOG=errors: the 404s only (and no 2xx: neither the probe nor the list).
    assert [(r["path"], r["status"]) for r in requests] == [
        ("/metrics", 404),
        ("/users/424242", 404),
    ]
    assert {"ts", "level", "logger", "request_id", "pid", "duration_ms", "method"} <= set(
        requests[0]
    )


class OtlpReceiver:
    """OTLP/HTTP's trace endpoint: POST /v1/traces, protobuf bodies, kept decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.port = free_port()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await reader.readexactly(length)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.requests.append(request)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    def spans(self) -> list[tuple[str, object]]:
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append((attributes.get("service.name", ""), span))
        return found


async def test_spans_reach_an_otlp_receiver(
    installed: Installed, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    receiver = OtlpReceiver()
    server_socket = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    env = {
        **sqlite_env,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{receiver.port}/v1/traces",
        "OTEL_SERVICE_NAME": "users-e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    server = await asyncio.to_thread(start, installed, env, log=tmp_path / "server.log")
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=bearer(token())) as client:
            traceparent = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
            assert (await client.get("/users", headers=traceparent)).status_code == 200
        deadline = time.monotonic() + bound(10)
        while time.monotonic() < deadline and not any(
            span.name == "GET /users" for _, span in receiver.spans()
        ):
            await asyncio.sleep(0.1)
    finally:
        assert await asyncio.to_thread(server.terminate) == 0
        server_socket.close()
    spans = receiver.spans()
    (service_name, request_span), *_ = [(n, s) for n, s in spans if s.name == "GET /users"]
    assert service_name == "users-e2e"
    assert request_span.trace_id.hex() == trace_id
    children = [s for _, s in spans if s.parent_span_id == request_span.span_id]
    assert [c.name for c in children] == ["SELECT users"]
    lines = [line for line in server.output().splitlines() if '"msg":"request"' in line]
    assert any(f'"trace_id":"{trace_id}"' in line for line in lines), lines
