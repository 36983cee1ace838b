"""`users-service export-groups`: groups and memberships as JSON Lines (bulk/groups.py)."""

from __future__ import annotations

import argparse

from users_service.entrypoints.commands import add_progress_arguments
from users_service.entrypoints.settings import Settings

NAME = "export-groups"
HELP = "export groups and their members as JSON Lines, from one consistent snapshot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default=None, help="a file (default: standard output)")
    add_progress_arguments(parser)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.bulk.groups import run_export_groups

    return run_export_groups(
        settings, args.output, quiet=args.quiet, interval=args.progress_interval
    )
