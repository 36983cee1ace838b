"""`users-service relay`: the outbox to NATS JetStream, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from users_service.entrypoints.settings import Settings

NAME = "relay"
HELP = "publish the outbox's events to NATS JetStream (NATS_URL), until stopped"
logger = logging.getLogger("users_service")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="where METRICS_PORT listens (default: HOST)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.container import container_for
    from users_service.entrypoints.process.metrics_setup import start_metrics_server

    if settings.uses_memory:
        raise SystemExit(
            "users-service: the memory backend's outbox is seen only by the relay of the "
            "process that holds it: serve with EVENTS_RELAY=inprocess"
        )
    host = args.host or settings.host

    async def relay() -> None:
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
            await container.database().dispose()
        logger.info("relay stopped")

    asyncio.run(relay())
    return 0
