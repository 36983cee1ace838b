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


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
