"""`users-service import-groups`: groups and memberships from `export-groups`
(bulk/groups.py)."""

from __future__ import annotations

import argparse

from users_service.entrypoints.commands import add_progress_arguments
from users_service.entrypoints.settings import Settings

NAME = "import-groups"
HELP = (
    "import groups and their members from export-groups' JSON Lines (a file, a .gz file, "
    "or - for stdin); run again to resume"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a .jsonl file from export-groups (.gz too), or - for stdin")
    parser.add_argument(
        "--keep-ids", action="store_true", help="restore each group's id (from an export)"
    )
    parser.add_argument(
        "--keep-timestamps",
        action="store_true",
        help="keep each group's created_at, updated_at",
    )
    add_progress_arguments(parser)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.bulk.groups import run_import_groups

    return run_import_groups(
        settings,
        args.file,
        keep_ids=args.keep_ids,
        keep_timestamps=args.keep_timestamps,
        quiet=args.quiet,
        interval=args.progress_interval,
    )
