"""The factory uvicorn's worker processes call: `users_service.entrypoints.http.asgi:create`
(with `factory=True`). Nothing is built at import: each worker builds its own container,
settings and engine from the environment when it starts."""

from fastapi import FastAPI

from users_service.entrypoints.container import Container
from users_service.entrypoints.http.app import create_app
from users_service.entrypoints.logging_config import configure_logging


def create() -> FastAPI:
    container = Container()
    settings = container.settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(container, drain_on_signals=True)
