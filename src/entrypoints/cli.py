"""`users-service`: serve the API, migrate the database, relay events."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from typing import Any

from pydantic import SecretStr, ValidationError

from users_service.entrypoints.build_info import build_info
from users_service.entrypoints.logging_config import configure_logging
from users_service.entrypoints.settings import Settings, load_settings

logger = logging.getLogger("users_service")


def configuration_errors(exc: ValidationError) -> str:
    """One line per refused variable, named as it is set: `DB_POOL_SIZE: ...`."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper() or "(settings)"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def migrate(settings: Settings, *, role_settings: bool = False) -> None:
    from users_service.entrypoints.migrations import apply_role_settings, upgrade

    if settings.uses_memory:
        logger.info("memory backend: nothing to migrate")
        return
    upgrade(settings.migration_url)
    if role_settings:
        apply_role_settings(
            settings.migration_url, settings.database_url, settings.db_statement_timeout
        )
        logger.info(
            "role settings applied: statement_timeout, lock_timeout, jit",
            extra={"statement_timeout_seconds": settings.db_statement_timeout},
        )
    logger.info("database migrated to head")


def purge_idempotency_keys(settings: Settings) -> None:
    import asyncio

    from users_service.entrypoints.container import container_for

    async def purge() -> int:
        container = container_for(settings)
        try:
            return await container.idempotency().purge()
        finally:
            if container.backend() == "sqlalchemy":
                await container.engine().dispose()

    logger.info("purged expired idempotency keys", extra={"purged": asyncio.run(purge())})


ASGI_FACTORY = "users_service.entrypoints.http.asgi:create"
DEV_SCOPES = "users:read users:write"
DEV_TTL_SECONDS = 12 * 3600


def development_settings(settings: Settings) -> Settings:
    """`serve --dev`: a random HS256 secret when no key is configured, and a ready token."""
    updates: dict[str, Any] = {"dev_mode": True}
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
        .mint(subject="developer", scopes=DEV_SCOPES, ttl_seconds=DEV_TTL_SECONDS)
    )
    print(
        f"\nDevelopment token ({DEV_SCOPES}, valid 12 h):\n\n  {token}\n\n"
        f"  curl -H 'Authorization: Bearer {token}' http://{host}:{port}/users\n\n"
        f"Docs: http://{host}:{port}/docs (Authorize with the token above)\n",
        flush=True,
    )


def relay(settings: Settings, host: str) -> None:
    """Publish the outbox to NATS JetStream until SIGTERM or SIGINT (and, with
    METRICS_PORT, serve its metrics on `host`)."""
    import asyncio
    import signal

    from users_service.entrypoints.container import container_for
    from users_service.entrypoints.metrics_setup import start_metrics_server

    if settings.uses_memory:
        raise SystemExit(
            "users-service: the memory backend's outbox is seen only by the relay of the "
            "process that holds it: serve with EVENTS_RELAY=inprocess"
        )

    async def run() -> None:
        container = container_for(settings)
        start_metrics_server(settings, host, None, container.metrics())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        logger.info(
            "relaying the outbox",
            extra={"nats_url": settings.nats_url, "stream": settings.events_stream},
        )
        try:
            await container.relay().run(stop)
        finally:
            await container.event_publisher().close()
            await container.engine().dispose()
        logger.info("relay stopped")

    asyncio.run(run())


def mint(settings: Settings, subject: str, scopes: str, ttl: int) -> None:
    from users_service.entrypoints.container import container_for

    minter = container_for(settings).token_minter()
    print(minter.mint(subject=subject, scopes=scopes, ttl_seconds=ttl))


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    from users_service.entrypoints.metrics_setup import (
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
    from users_service.entrypoints.server import GracefulServer

    if (problem := settings.auth_misconfiguration()) is not None:
        raise SystemExit(f"users-service: {problem}")
    if workers > 1 and settings.dev_mode:
        # Workers build their settings from the environment: a generated development
        # secret would not reach them.
        raise SystemExit("users-service: --dev serves with one worker")
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
        # each drains (drain.py).
        start_metrics_server(settings, host, metrics_folder, None)
        uvicorn.run(ASGI_FACTORY, factory=True, workers=workers, **options)
        return
    container = container_for(settings)
    app = create_app(container, drain_on_signals=True)
    start_metrics_server(settings, host, None, container.metrics())
    # The start-up heap is frozen out of the collector once the app has started, in
    # each worker (GC_FREEZE, entrypoints/gc_tuning.py).
    GracefulServer(uvicorn.Config(app, **options)).run()


class _Version(argparse.Action):
    """`--version`, looked up only when asked (a checkout asks git for its revision)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        build = build_info()
        print(f"users-service {build.version} ({build.revision})")
        parser.exit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="users-service", description=__doc__)
    parser.add_argument("--version", action=_Version, help="show the version and git revision")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the HTTP API")
    serve_parser.add_argument("--host", default=None)
    serve_parser.add_argument("--port", type=int, default=None)
    serve_parser.add_argument("--workers", type=int, default=1)
    serve_parser.add_argument(
        "--dev", action="store_true", help="development: random secret if none, print a token"
    )
    token_parser = commands.add_parser("token", help="mint an HS256 token (AUTH_JWT_SECRET)")
    token_parser.add_argument("--scope", default=DEV_SCOPES, help="space-separated scopes")
    token_parser.add_argument("--sub", default="developer", help="the token's subject")
    token_parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    migrate_parser = commands.add_parser(
        "migrate", help="apply every migration (DATABASE_MIGRATION_URL, else DATABASE_URL)"
    )
    migrate_parser.add_argument(
        "--role-settings",
        action="store_true",
        help="also set statement_timeout, lock_timeout and jit on DATABASE_URL's role in its "
        "database (what a PgBouncer in transaction mode cannot carry)",
    )
    commands.add_parser(
        "purge-idempotency-keys", help="delete Idempotency-Key records older than 24 hours"
    )
    import_parser = commands.add_parser(
        "import", help="import users from CSV or JSON Lines (a file, a .gz file, or - for stdin)"
    )
    import_parser.add_argument("file")
    import_parser.add_argument("--format", choices=["csv", "jsonl"], default=None)
    import_parser.add_argument("--email-column", default="email", help="CSV column of emails")
    import_parser.add_argument("--name-column", default="name", help="CSV column of names")
    import_parser.add_argument("--on-conflict", choices=["skip", "fail"], default="skip")
    import_parser.add_argument(
        "--dry-run", action="store_true", help="validate everything, write nothing"
    )
    import_parser.add_argument("--rejects", default=None, help="where rejected rows go")
    import_parser.add_argument(
        "--keep-ids", action="store_true", help="restore each row's id (from an export)"
    )
    import_parser.add_argument(
        "--keep-timestamps", action="store_true", help="keep each row's created_at, updated_at"
    )
    import_parser.add_argument("--chunk-size", type=int, default=1000)
    import_parser.add_argument(
        "--sequential",
        action="store_true",
        help="validate each chunk only after the previous one is written (no worker thread)",
    )
    import_parser.add_argument("--quiet", action="store_true", help="no progress, no summary")
    import_parser.add_argument(
        "--progress-interval", type=float, default=5.0, help="seconds between progress lines"
    )
    export_parser = commands.add_parser(
        "export", help="export users as JSON Lines or CSV, from one consistent snapshot"
    )
    export_parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export_parser.add_argument("--output", default=None, help="a file (default: stdout)")
    export_parser.add_argument("--email", default=None, help="only the user with this email")
    export_parser.add_argument(
        "--id", type=int, action="append", dest="ids", help="only these ids (repeatable)"
    )
    export_parser.add_argument("--quiet", action="store_true", help="no progress, no summary")
    export_parser.add_argument(
        "--progress-interval", type=float, default=5.0, help="seconds between progress lines"
    )
    relay_parser = commands.add_parser(
        "relay", help="publish the outbox's events to NATS JetStream (NATS_URL), until stopped"
    )
    relay_parser.add_argument("--host", default=None, help="where METRICS_PORT listens")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"users-service: invalid configuration\n{configuration_errors(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "serve" and args.dev:
        settings = development_settings(settings)
    configure_logging(settings.log_level, settings.effective_log_format)
    if args.command == "migrate":
        migrate(settings, role_settings=args.role_settings)
    elif args.command == "purge-idempotency-keys":
        purge_idempotency_keys(settings)
    elif args.command == "import":
        from users_service.entrypoints.bulk_import import ImportRequest, run_import

        if not 1 <= args.chunk_size <= 10_000:
            parser.error("--chunk-size must be between 1 and 10000")
        request = ImportRequest(
            path=args.file,
            format=args.format,
            email_column=args.email_column,
            name_column=args.name_column,
            on_conflict=args.on_conflict,
            dry_run=args.dry_run,
            keep_ids=args.keep_ids,
            keep_timestamps=args.keep_timestamps,
            rejects=args.rejects,
            chunk_size=args.chunk_size,
            quiet=args.quiet,
            progress_interval=args.progress_interval,
            sequential=args.sequential,
        )
        raise SystemExit(run_import(settings, request))
    elif args.command == "export":
        from users_service.entrypoints.bulk_export import ExportRequest, run_export

        export = ExportRequest(
            format=args.format,
            output=args.output,
            email=args.email,
            ids=tuple(args.ids) if args.ids else None,
            quiet=args.quiet,
            progress_interval=args.progress_interval,
        )
        raise SystemExit(run_export(settings, export))
    elif args.command == "relay":
        relay(settings, args.host or settings.host)
    elif args.command == "token":
        mint(settings, args.sub, args.scope, args.ttl)
    elif args.command == "serve":
        host, port = args.host or settings.host, args.port or settings.port
        if args.dev:
            print_development_token(settings, host, port)
        serve(settings, host, port, args.workers)


if __name__ == "__main__":
    main()
