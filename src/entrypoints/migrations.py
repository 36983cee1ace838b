"""Alembic, configured in code: the migrations ship inside the package, so an installed
service migrates from any working directory, with no `alembic.ini` beside it."""

from __future__ import annotations

import dataclasses
import logging
from functools import cache
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from users_service.adapters.sqlalchemy import EngineOptions
from users_service.entrypoints.options import engine_options
from users_service.entrypoints.settings import Settings

MIGRATIONS_PACKAGE = "users_service.migrations"
logger = logging.getLogger("users_service")


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

    defaults = Settings.model_construct(database_url=url)  # defaults only, no sources
    options = engine_options(defaults, url)
    return dataclasses.replace(
        options,
        pool_size=1,
        max_overflow=0,
        pgbouncer=False,
        statement_timeout=MIGRATION_STATEMENT_TIMEOUT,
    )


@cache
def head_revision() -> str:
    """The revision this release's migrations end at."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise RuntimeError("the migrations have no head revision")
    return head


@cache
def known_revisions() -> frozenset[str]:
    """Every revision this release's migrations know."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.revision for script in scripts.walk_revisions())


def schema_problem(settings: Settings) -> str | None:
    """Why `serve` must not start on this database: its schema is not this release's
    (None on the memory backend, or when the database does not answer: readiness then
    says so while the service waits for it)."""
    import asyncio

    from users_service.adapters.sqlalchemy import create_database
    from users_service.adapters.sqlalchemy.health import SchemaCheck
    from users_service.application.errors import StorageNotReady

    if settings.uses_memory:
        return None

    async def check() -> str | None:
        database = create_database(engine_options(settings))
        try:
            await SchemaCheck(database, head_revision(), known_revisions())()
        except StorageNotReady as exc:
            return str(exc)
        except Exception as exc:
            logger.warning("the database did not answer the schema check: %r", exc)
        finally:
            await database.dispose()
        return None

    return asyncio.run(check())


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

    service = make_url(settings.database_url)
    if not service.username or not service.database:
        raise ValueError("DATABASE_URL must name the service's user and database")
    statements = role_settings(service.username, service.database, settings.db_statement_timeout)
    options = engine_options(settings, settings.migration_url)
    asyncio.run(_apply(dataclasses.replace(options, pool_size=1, pgbouncer=False), statements))


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
