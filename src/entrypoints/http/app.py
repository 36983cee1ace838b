"""The application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from users_service.adapters.metrics import PrometheusMetrics
from users_service.application.relay import outbox_backlog
from users_service.entrypoints import logging_config
from users_service.entrypoints.access_log import AccessLog
from users_service.entrypoints.build_info import build_info
from users_service.entrypoints.container import Container, watch_pools
from users_service.entrypoints.http.authenticator import Authenticator
from users_service.entrypoints.http.cursors import CursorCodec
from users_service.entrypoints.http.docs import install_docs
from users_service.entrypoints.http.idempotency import IdempotentRequests
from users_service.entrypoints.http.middleware import EdgeMiddleware
from users_service.entrypoints.http.openapi import install_openapi
from users_service.entrypoints.http.problems import install_problem_handlers
from users_service.entrypoints.http.routes import groups, health, users
from users_service.entrypoints.http.services import HttpServices
from users_service.entrypoints.http.telemetry import EdgeTelemetry
from users_service.entrypoints.process import gc_tuning
from users_service.entrypoints.process.drain import SignalDrain
from users_service.entrypoints.tracing import current_trace_ids

DESCRIPTION = """
Manage users: create, read, list (keyset pages), update (JSON merge patch with
optimistic concurrency through `ETag` / `If-Match`), delete and batch create.

Every error is an RFC 9457 problem (`application/problem+json`) with a stable `code`.
"""


logger = logging.getLogger("users_service")
# FastAPI's own OpenTelemetry probes the global providers on every request; the service
# traces by itself (entrypoints/tracing.py), so they stay off.
_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
DISPOSE_TIMEOUT = 5.0
POOL_SAMPLE_SECONDS = 1.0

_CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
_EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
]


def _mount(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, added to the app's own route list.

    `include_router` would wrap the router in a layer that resolves its routes again on
    every request (docs/performance.md). These routers take no
    include-time options (prefix, dependencies, responses), so the flat list is the
    same routing table.
    """
    app.router.routes.extend(router.routes)


async def _dispose_databases(container: Container) -> None:
    replica = container.replica()
    await container.database().dispose()
    if replica is not None:
        await replica.database.dispose()


def http_services_from(container: Container) -> HttpServices:
    """The edge's own objects, built from the container's adapters and use cases."""
    settings = container.settings()
    metrics = container.metrics()
    return HttpServices(
        lifecycle=container.lifecycle(),
        readiness_probe=container.readiness_probe(),
        readiness_timeout=settings.readiness_timeout,
        metrics=metrics,
        authenticator=Authenticator(container.token_verifier()),
        cursors=CursorCodec(settings.cursor_secret.get_secret_value().encode()),
        idempotent_requests=IdempotentRequests(
            container.idempotency(), metrics.idempotent_replay if metrics else None
        ),
        register_users=container.register_users(),
        get_user=container.get_user(),
        list_users=container.list_users(),
        update_user=container.update_user(),
        delete_user=container.delete_user(),
        create_group=container.create_group(),
        get_group=container.get_group(),
        list_groups=container.list_groups(),
        update_group=container.update_group(),
        delete_group=container.delete_group(),
        change_members=container.change_members(),
        list_members=container.list_members(),
        list_user_groups=container.list_user_groups(),
        expand_groups=container.expand_groups(),
        outbox_backlog=(
            partial(
                outbox_backlog,
                container.unit_of_work(),
                container.clock(),
                container.usage_metrics(),
            )
            if settings.events_enabled
            else None
        ),
        outbox_publisher=(
            "this process" if settings.events_relay == "inprocess" else "users-service relay"
        ),
    )


def create_app(container: Container | None = None, *, drain_on_signals: bool = False) -> FastAPI:
    """The app on `container`. `drain_on_signals`: the server process's own app, which
    drains on SIGTERM (see process/drain.py); never in process, where the caller owns signals."""
    container = container or Container()
    settings = container.settings()
    if (problem := settings.auth_misconfiguration()) is not None:
        raise RuntimeError(problem)
    if settings.auth_disabled:
        logger.warning("AUTH_DISABLED=true: authentication is OFF, every caller is trusted")

    metrics = container.metrics()
    tracing = container.tracing()
    logging_config.correlate_traces(current_trace_ids if tracing is not None else None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        uses_database = container.backend() == "sqlalchemy"
        if uses_database:
            container.database()  # created here, once per process, never at import
        container.lifecycle().draining = False
        services = _app.state.services = http_services_from(container)
        if drain_on_signals:
            SignalDrain(container.lifecycle(), settings.drain_seconds).install()
        sampler = None
        if metrics is not None:
            watch_pools(container)
            # `users_ready` from the start; the readiness probes keep it current.
            metrics.readiness(await health.database_failure(services) is None)
            sampler = asyncio.create_task(_sample_pools(metrics))
        relay, stop_relay = None, asyncio.Event()
        if settings.events_enabled and settings.events_relay == "inprocess":
            relay = asyncio.create_task(container.relay().run(stop_relay))
        # Only in a server process (one worker or each of several): in process (tests),
        # the caller's heap is not ours to freeze.
        gc_tuning.freeze_startup_heap(settings.gc_freeze and drain_on_signals)
        try:
            yield
        finally:
            container.lifecycle().draining = True
            if sampler is not None:
                sampler.cancel()
            if relay is not None:
                stop_relay.set()
                await relay  # its round ends: what it published is marked, or published again
                await container.event_publisher().close()
            if metrics is not None:
                metrics.readiness(False)
                metrics.worker_exiting()
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)
            if uses_database:
                try:
                    # Bounded: closing pooled connections to a silent database must not
                    # hold the process past its shutdown grace period.
                    await asyncio.wait_for(_dispose_databases(container), DISPOSE_TIMEOUT)
                except TimeoutError:
                    logger.warning("closing the database connections timed out; exiting anyway")
                container.database.reset()
                container.replica.reset()

    app = FastAPI(
        title="users-service",
        version=build_info().version,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # install_docs: Swagger UI from vendored files, no CDN
        redoc_url=None,
        telemetry=_TELEMETRY_OFF,
    )
    for router in (users.router, groups.router, health.router):
        _mount(app, router)
    install_problem_handlers(app)
    install_openapi(app)
    install_docs(app)
    app.state.metrics = metrics  # the problem table counts what it answers
    if metrics is not None and settings.metrics_port is None:
        _serve_metrics(app, metrics)
    telemetry = EdgeTelemetry(
        metrics,
        tracing.tracer if tracing is not None else None,
        AccessLog(settings.access_log, settings.log_format),
    )
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, telemetry=telemetry)
    if settings.cors_origins:
        # Outermost (added last), so that every answer, 413s and 500s included, carries
        # the CORS headers a browser needs to read it. Preflights are answered here.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=_CORS_HEADERS,
            expose_headers=_EXPOSED_HEADERS,
            max_age=600,
        )
    return app


def _serve_metrics(app: FastAPI, metrics: PrometheusMetrics) -> None:
    """`/metrics` on the API's port (METRICS_PORT moves it to a port of its own)."""

    async def metrics_endpoint(request: Request) -> Response:
        accept = request.headers.get("accept")
        body, content_type = await run_in_threadpool(metrics.exposition, accept)
        return Response(body, media_type=content_type)

    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)


async def _sample_pools(metrics: PrometheusMetrics) -> None:
    while True:
        await asyncio.sleep(POOL_SAMPLE_SECONDS)
        try:
            metrics.sample_pools()
        except Exception:  # a metric must never take the service down
            logger.exception("sampling the pools for metrics failed")
