"""Alembic, configured in code: the migrations ship inside the package, so an installed
service migrates from any working directory, with no `alembic.ini` beside it."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config

MIGRATIONS_PACKAGE = "users_service.migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    # A plain folder on disk in both a wheel install and an editable one.
    config.set_main_option("script_location", str(resources.files(MIGRATIONS_PACKAGE)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def _apply(url: str, statements: list[str]) -> None:
    from sqlalchemy import text

    from users_service.adapters.sqlalchemy import EngineOptions, create_engine

    engine = create_engine(EngineOptions(url=url, pool_size=1))
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def apply_role_settings(migration_url: str, service_url: str, statement_timeout: float) -> None:
    """Give the service's role, in its database, the timeouts a pooler cannot carry."""
    import asyncio

    from sqlalchemy.engine import make_url

    from users_service.adapters.sqlalchemy.pooler import role_settings

    service = make_url(service_url)
    if not service.username or not service.database:
        raise ValueError("DATABASE_URL must name the service's user and database")
    statements = role_settings(service.username, service.database, statement_timeout)
    asyncio.run(_apply(migration_url, statements))


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
