"""The ASGI entry point uvicorn imports: `users_service.entrypoints.http.asgi:app`."""

from users_service.entrypoints.container import Container
from users_service.entrypoints.http.app import create_app
from users_service.entrypoints.logging_config import configure_logging

_container = Container()
configure_logging(_container.settings().log_level)
app = create_app(_container)
