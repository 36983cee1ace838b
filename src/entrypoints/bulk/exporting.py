"""`users-service export`: every user (or those `--email`/`--id` keep) as JSON Lines or
CSV, with the API's field formats, streamed from one consistent snapshot to a file or
stdout; progress and the summary on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import orjson

from users_service.application.access import TRUSTED
from users_service.application.representation import user_dict
from users_service.domain.errors import InvalidValue
from users_service.domain.user import User
from users_service.entrypoints.bulk.progress import Progress
from users_service.entrypoints.settings import Settings

COLUMNS = ("id", "email", "name", "created_at", "updated_at", "version")
OK, FATAL, INTERRUPTED = 0, 2, 130


@dataclass(frozen=True)
class ExportRequest:
    """What `users-service export` was asked (its defaults: commands/export_users.py)."""

    format: Literal["jsonl", "csv"]
    output: str | None  # None or "-": stdout
    email: str | None
    ids: tuple[int, ...] | None
    quiet: bool
    progress_interval: float


@dataclass
class ExportCounts:
    read: int = 0
    rejected: int = field(default=0)

    def describe(self) -> str:
        return f"exported {self.read:,}"


def _timestamp(value: object) -> str:
    """As the API writes it (orjson, UTC as `Z`)."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode().strip('"')


class _Writer:
    def __init__(self, out: IO[str], fmt: str) -> None:
        self._out = out
        self._csv = csv.writer(out) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(COLUMNS)

    def write(self, user: User) -> None:
        body = user_dict(user)
        if self._csv is None:
            self._out.write(orjson.dumps(body, option=orjson.OPT_UTC_Z).decode() + "\n")
            return
        self._csv.writerow(
            [
                body["id"],
                body["email"],
                body["name"],
                _timestamp(body["created_at"]),
                _timestamp(body["updated_at"]),
                body["version"],
            ]
        )


def run_export(settings: Settings, request: ExportRequest) -> int:
    try:
        with contextlib.ExitStack() as files:
            out: IO[str] = sys.stdout
            if request.output not in (None, "-"):
                path = Path(str(request.output))
                out = files.enter_context(path.open("w", encoding="utf-8", newline=""))
            return asyncio.run(_export(settings, request, out))
    except OSError as exc:
        print(f"users-service export: {exc}", file=sys.stderr)
        return FATAL
    except InvalidValue as exc:
        print(f"users-service export: --{exc.field}: {exc.message}", file=sys.stderr)
        return FATAL


async def _export(settings: Settings, request: ExportRequest, out: IO[str]) -> int:
    from users_service.entrypoints.container import container_for

    container = container_for(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    counts = ExportCounts()
    progress = Progress(
        quiet=request.quiet, interval=request.progress_interval, total=None, position=lambda: 0
    )
    writer = _Writer(out, request.format)
    try:
        users = container.export_users()(TRUSTED, email=request.email, ids=request.ids)
        async for user in users:
            writer.write(user)
            counts.read += 1
            if counts.read % 1000 == 0:
                progress.update(counts)
                if stop.is_set():
                    break
        out.flush()
    finally:
        if container.backend() == "sqlalchemy":
            await container.database().dispose()
    if stop.is_set():
        progress.finish(counts, "interrupted")
        return INTERRUPTED
    progress.finish(counts, "done")
    return OK
