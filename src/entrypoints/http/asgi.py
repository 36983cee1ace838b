"""The ASGI entry point uvicorn imports: `entrypoints.http.asgi:app`."""

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.logging_config import configure_logging

_container = Container()
configure_logging(_container.settings().log_level)
app = create_app(_container)
