"""`users-service migrate`: every migration, then (asked) the role's pooler settings."""

from __future__ import annotations

import argparse
import logging

from users_service.entrypoints.settings import Settings

NAME = "migrate"
HELP = "apply every migration (DATABASE_MIGRATION_URL, else DATABASE_URL)"
logger = logging.getLogger("users_service")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role-settings",
        action="store_true",
        help="also set statement_timeout, lock_timeout and jit on DATABASE_URL's role in its "
        "database (what a PgBouncer in transaction mode cannot carry)",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.migrations import apply_role_settings, upgrade

    if settings.uses_memory:
        logger.info("memory backend: nothing to migrate")
        return 0
    upgrade(settings.migration_url)
    if args.role_settings:
        apply_role_settings(settings)
        logger.info(
            "role settings applied: statement_timeout, lock_timeout, jit",
            extra={"statement_timeout_seconds": settings.db_statement_timeout},
        )
    logger.info("database migrated to head")
    return 0
