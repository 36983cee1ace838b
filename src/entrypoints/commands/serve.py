"""`users-service serve`: the HTTP API, one process or several workers."""

from __future__ import annotations

import argparse
import logging
import secrets
from typing import Any

from pydantic import SecretStr

from users_service.entrypoints.build_info import build_info
from users_service.entrypoints.commands.token import DEFAULT_SCOPES
from users_service.entrypoints.settings import Settings

NAME = "serve"
HELP = "serve the HTTP API"
ASGI_FACTORY = "users_service.entrypoints.http.asgi:create"
DEV_TTL_SECONDS = 12 * 3600
logger = logging.getLogger("users_service")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="the address to listen on (default: HOST)")
    parser.add_argument(
        "--port", type=int, default=None, help="the port to listen on (default: PORT)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes; metrics then use METRICS_DIR (default: 1)",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="development: console logs, a random AUTH_JWT_SECRET when no key is "
        "configured, a ready token printed, and Ctrl-C stops at once",
    )


def development_settings(settings: Settings) -> Settings:
    """`serve --dev`: console logs and no drain window, unless LOG_FORMAT or DRAIN_SECONDS
    say otherwise, and a random HS256 secret when no key is configured."""
    updates: dict[str, Any] = {}
    if "log_format" not in settings.model_fields_set:
        updates["log_format"] = "console"
    if "drain_seconds" not in settings.model_fields_set:
        updates["drain_seconds"] = 0.0  # Ctrl-C stops at once: no load balancer to drain
    if not settings.auth_disabled and settings.auth_misconfiguration() is not None:
        updates["auth_jwt_secret"] = SecretStr(secrets.token_urlsafe(32))
    return settings.model_copy(update=updates)


def print_development_token(settings: Settings, host: str, port: int) -> None:
    from users_service.entrypoints.container import container_for

    if settings.auth_disabled or settings.auth_jwt_secret is None:
        return
    token = (
        container_for(settings)
        .token_minter()
        .mint(subject="developer", scopes=DEFAULT_SCOPES, ttl_seconds=DEV_TTL_SECONDS)
    )
    print(
        f"\nDevelopment token ({DEFAULT_SCOPES}, valid 12 h):\n\n  {token}\n\n"
        f"  curl -H 'Authorization: Bearer {token}' http://{host}:{port}/users\n\n"
        f"Docs: http://{host}:{port}/docs (Authorize with the token above)\n",
        flush=True,
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    host, port, workers = args.host or settings.host, args.port or settings.port, args.workers
    if args.dev:
        if workers > 1:
            # Workers build their settings from the environment: a generated development
            # secret would not reach them.
            raise SystemExit("users-service: --dev serves with one worker")
        print_development_token(settings, host, port)
    serve(settings, host, port, workers)
    return 0


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    from users_service.entrypoints.process.metrics_setup import (
        MetricsFolderError,
        prepare_multiprocess,
        start_metrics_server,
    )

    # Before anything imports prometheus-client in a worker (see metrics_setup.py).
    try:
        metrics_folder = prepare_multiprocess(settings, workers)
    except MetricsFolderError as exc:
        raise SystemExit(f"users-service: {exc}") from None

    import uvicorn

    from users_service.entrypoints.container import container_for
    from users_service.entrypoints.http.app import create_app
    from users_service.entrypoints.migrations import schema_problem
    from users_service.entrypoints.process.server import GracefulServer

    if (problem := settings.auth_misconfiguration()) is not None:
        raise SystemExit(f"users-service: {problem}")
    if (problem := schema_problem(settings)) is not None:
        raise SystemExit(f"users-service: {problem}")
    build = build_info()
    logger.info(
        "serving",
        extra={
            "version": build.version,
            "revision": build.revision,
            "host": host,
            "port": port,
            "workers": workers,
        },
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_config": None,
        "proxy_headers": False,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if workers > 1:
        # Each worker process imports the app and builds its own container and engine
        # from the environment; the supervisor passes SIGTERM on to every worker, and
        # each drains (process/drain.py).
        start_metrics_server(settings, host, metrics_folder, None)
        uvicorn.run(ASGI_FACTORY, factory=True, workers=workers, **options)
        return
    container = container_for(settings)
    app = create_app(container, drain_on_signals=True)
    start_metrics_server(settings, host, None, container.metrics())
    # The start-up heap is frozen out of the collector once the app has started, in
    # each worker (GC_FREEZE, process/gc_tuning.py).
    GracefulServer(uvicorn.Config(app, **options)).run()
