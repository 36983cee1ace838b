"""`users-service purge-idempotency-keys`: expired Idempotency-Key records go."""

from __future__ import annotations

import argparse
import asyncio
import logging

from users_service.entrypoints.settings import Settings

NAME = "purge-idempotency-keys"
HELP = "delete Idempotency-Key records older than 24 hours"
logger = logging.getLogger("users_service")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    return None


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.container import container_for

    async def purge() -> int:
        container = container_for(settings)
        try:
            return await container.idempotency().purge()
        finally:
            if container.backend() == "sqlalchemy":
                await container.database().dispose()

    logger.info("purged expired idempotency keys", extra={"purged": asyncio.run(purge())})
    return 0
