"""Alembic, configured in code: the migrations ship inside the package, so an installed
service migrates from any working directory, with no `alembic.ini` beside it."""

from __future__ import annotations

import dataclasses
from importlib import resources

from alembic import command
from alembic.config import Config

from users_service.adapters.sqlalchemy import EngineOptions
from users_service.entrypoints.settings import Settings

MIGRATIONS_PACKAGE = "users_service.migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    # A plain folder on disk in both a wheel install and an editable one.
    config.set_main_option("script_location", str(resources.files(MIGRATIONS_PACKAGE)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# A migration may rewrite a large table: its statements get minutes, not seconds.
MIGRATION_STATEMENT_TIMEOUT = 600.0


def migration_engine_options(url: str) -> EngineOptions:
    """The engine a migration runs on: the service's defaults (never the environment's:
    the URL is all a migration is told), one connection, the migration's timeout."""
    from users_service.entrypoints.container import engine_options

    defaults = Settings.model_construct(database_url=url)  # defaults only, no sources
    options = engine_options(defaults, url)
    return dataclasses.replace(
        options,
        pool_size=1,
        max_overflow=0,
        pgbouncer=False,
        statement_timeout=MIGRATION_STATEMENT_TIMEOUT,
    )


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def _apply(options: EngineOptions, statements: list[str]) -> None:
    from sqlalchemy import text

    from users_service.adapters.sqlalchemy import create_engine

    engine = create_engine(options)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def apply_role_settings(settings: Settings) -> None:
    """Give the service's role (DATABASE_URL's user), in its database, the timeouts a
    pooler cannot carry, through DATABASE_MIGRATION_URL."""
    import asyncio

    from sqlalchemy.engine import make_url

    from users_service.adapters.sqlalchemy.pooler import role_settings
    from users_service.entrypoints.container import engine_options

    service = make_url(settings.database_url)
    if not service.username or not service.database:
        raise ValueError("DATABASE_URL must name the service's user and database")
    statements = role_settings(service.username, service.database, settings.db_statement_timeout)
    options = engine_options(settings, settings.migration_url)
    asyncio.run(_apply(dataclasses.replace(options, pool_size=1, pgbouncer=False), statements))


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
