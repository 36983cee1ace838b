"""`users-service`: serve the API or migrate the database."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from entrypoints.logging_config import configure_logging
from entrypoints.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

logger = logging.getLogger("users_service")


def migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    if settings.uses_memory:
        logger.info("memory backend: nothing to migrate")
        return
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")
    logger.info("database migrated to head")


def purge_idempotency_keys(settings: Settings) -> None:
    import asyncio

    from dependency_injector import providers

    from entrypoints.container import Container

    async def purge() -> int:
        container = Container()
        container.settings.override(providers.Object(settings))
        try:
            return await container.idempotency().purge()
        finally:
            if container.backend() == "sqlalchemy":
                await container.engine().dispose()

    logger.info("purged expired idempotency keys", extra={"purged": asyncio.run(purge())})


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from entrypoints.container import Container
    from entrypoints.http.app import create_app
    from entrypoints.server import GracefulServer

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_config": None,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 20,
    }
    if workers > 1:
        # Each worker process imports the app and builds its own container and engine.
        uvicorn.run("entrypoints.http.asgi:app", workers=workers, **options)
        return
    container = Container()
    container.settings.override(settings)
    app = create_app(container)

    def drain() -> None:
        container.lifecycle().draining = True

    GracefulServer(uvicorn.Config(app, **options), on_drain=drain).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="users-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the HTTP API")
    serve_parser.add_argument("--host", default=None)
    serve_parser.add_argument("--port", type=int, default=None)
    serve_parser.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="apply every migration to DATABASE_URL")
    commands.add_parser(
        "purge-idempotency-keys", help="delete Idempotency-Key records older than 24 hours"
    )
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level)
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "purge-idempotency-keys":
        purge_idempotency_keys(settings)
    elif args.command == "serve":
        serve(settings, args.host or settings.host, args.port or settings.port, args.workers)


if __name__ == "__main__":
    main()
