"""`users-service import`: users from CSV or JSON Lines (see bulk/importing.py)."""

from __future__ import annotations

import argparse

from users_service.entrypoints.commands import add_progress_arguments
from users_service.entrypoints.settings import Settings

NAME = "import"
HELP = "import users from CSV or JSON Lines (a file, a .gz file, or - for stdin)"
MAX_CHUNK = 10_000


def _chunk_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_CHUNK:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_CHUNK}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a .csv, .jsonl or .ndjson file (.gz too), or - for stdin")
    parser.add_argument(
        "--format", choices=["csv", "jsonl"], default=None, help="default: from the file's name"
    )
    parser.add_argument("--email-column", default="email", help="CSV column of emails")
    parser.add_argument("--name-column", default="name", help="CSV column of names")
    parser.add_argument(
        "--on-conflict",
        choices=["skip", "fail"],
        default="skip",
        help="an email already stored or repeated: skip the row, or stop (exit 3)",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate everything, write nothing")
    parser.add_argument(
        "--rejects", default=None, help="where rejected rows go, in the input's format"
    )
    parser.add_argument(
        "--keep-ids", action="store_true", help="restore each row's id (from an export)"
    )
    parser.add_argument(
        "--keep-timestamps", action="store_true", help="keep each row's created_at, updated_at"
    )
    parser.add_argument(
        "--chunk-size",
        type=_chunk_size,
        default=1000,
        help=f"rows per statement, 1 to {MAX_CHUNK}",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="validate each chunk only after the previous one is written (no worker thread)",
    )
    add_progress_arguments(parser)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.bulk.importing import ImportRequest, run_import

    request = ImportRequest(
        path=args.file,
        format=args.format,
        email_column=args.email_column,
        name_column=args.name_column,
        on_conflict=args.on_conflict,
        dry_run=args.dry_run,
        keep_ids=args.keep_ids,
        keep_timestamps=args.keep_timestamps,
        rejects=args.rejects,
        chunk_size=args.chunk_size,
        quiet=args.quiet,
        progress_interval=args.progress_interval,
        sequential=args.sequential,
    )
    return run_import(settings, request)
