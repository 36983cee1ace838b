"""The `users-service` commands, one module each. Each has a `NAME`, a `HELP` line, an
`add_arguments(parser)` and a `run(settings, args)` that returns the exit status."""

from __future__ import annotations

import argparse
from typing import Protocol

from users_service.entrypoints.settings import Settings


class Command(Protocol):
    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, settings: Settings, args: argparse.Namespace) -> int: ...


def add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """`--quiet` and `--progress-interval`, as the bulk commands take them."""
    parser.add_argument("--quiet", action="store_true", help="no progress, no summary")
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        help="seconds between progress lines when not on a terminal",
    )
