"""The adapters' and use cases' typed settings, made from the service's `Settings` (the
one place that holds their defaults)."""

from __future__ import annotations

from users_service.adapters.sqlalchemy import EngineOptions
from users_service.application.relay import RelaySettings
from users_service.entrypoints.settings import Settings


def engine_options(settings: Settings, url: str | None = None) -> EngineOptions:
    """The engine for `url` (default DATABASE_URL), as the settings configure it."""
    return EngineOptions(
        url=url or settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
        sqlite_busy_timeout=settings.db_sqlite_busy_timeout,
        echo=settings.db_echo,
        pgbouncer=settings.db_pgbouncer,
    )


def relay_settings(settings: Settings) -> RelaySettings:
    return RelaySettings(
        batch_size=settings.events_batch_size,
        poll_max=settings.events_poll_max,
        poll_min=settings.events_poll_min,
        retention=settings.events_outbox_retention,
    )
