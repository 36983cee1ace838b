"""`users-service export`: users as JSON Lines or CSV (see bulk/exporting.py)."""

from __future__ import annotations

import argparse

from users_service.entrypoints.commands import add_progress_arguments
from users_service.entrypoints.settings import Settings

NAME = "export"
HELP = "export users as JSON Lines or CSV, from one consistent snapshot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="the format")
    parser.add_argument("--output", default=None, help="a file (default: standard output)")
    parser.add_argument("--email", default=None, help="only the user with this email")
    parser.add_argument(
        "--id", type=int, action="append", dest="ids", help="only these ids (repeatable)"
    )
    add_progress_arguments(parser)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from users_service.entrypoints.bulk.exporting import ExportRequest, run_export

    export = ExportRequest(
        format=args.format,
        output=args.output,
        email=args.email,
        ids=tuple(args.ids) if args.ids else None,
        quiet=args.quiet,
        progress_interval=args.progress_interval,
    )
    return run_export(settings, export)
