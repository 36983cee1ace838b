"""The ASGI entry point uvicorn imports: `users_service.entrypoints.http.asgi:app`."""

from users_service.entrypoints.container import Container
from users_service.entrypoints.http.app import create_app
from users_service.entrypoints.logging_config import configure_logging

_container = Container()
_settings = _container.settings()
configure_logging(_settings.log_level, _settings.effective_log_format)
app = create_app(_container, drain_on_signals=True)
