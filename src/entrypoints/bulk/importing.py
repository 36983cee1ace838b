"""`users-service import FILE`: users from CSV or JSON Lines, through the `ImportUsers`
use case (the API's validation, one statement per chunk), with a rejects file, progress
and counts.

Exit status: 0 when every row was imported or skipped, 1 when some were rejected, 2 on a
fatal or usage error, 3 when `--on-conflict fail` stopped the run, 130 on Ctrl-C (the
chunk in progress commits whole first).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from users_service.application.access import TRUSTED
from users_service.application.errors import StorageUnavailable
from users_service.application.users.importing import (
    ImportCounts,
    ImportOptions,
    ImportStopped,
    OnConflict,
)
from users_service.entrypoints.bulk.files import (
    Format,
    InputError,
    RejectsFile,
    Source,
    format_of,
    open_source,
    read_rows,
)
from users_service.entrypoints.bulk.progress import Progress
from users_service.entrypoints.settings import Settings

if TYPE_CHECKING:
    from users_service.entrypoints.container import Container

logger = logging.getLogger("users_service")

OK, REJECTED, FATAL, STOPPED, INTERRUPTED = 0, 1, 2, 3, 130


@dataclass(frozen=True)
class ImportRequest:
    """What `users-service import` was asked (its defaults: commands/import_users.py)."""

    path: str
    format: str | None
    email_column: str
    name_column: str
    on_conflict: OnConflict
    dry_run: bool
    keep_ids: bool
    keep_timestamps: bool
    rejects: str | None
    chunk_size: int
    quiet: bool
    progress_interval: float
    sequential: bool  # no overlap of validation and writing (see ImportUsers)


def run_import(settings: Settings, request: ImportRequest) -> int:
    try:
        fmt = format_of(request.path, request.format)
        source = open_source(request.path)
    except InputError as exc:
        print(f"users-service import: {exc}", file=sys.stderr)
        return FATAL
    rejects = None
    try:
        if request.rejects:
            rejects = RejectsFile(Path(request.rejects), fmt)
        return asyncio.run(_import(settings, request, fmt, source, rejects))
    except InputError as exc:
        print(f"users-service import: {exc}", file=sys.stderr)
        return FATAL
    finally:
        source.close()
        if rejects is not None:
            rejects.close()


async def _import(
    settings: Settings,
    request: ImportRequest,
    fmt: Format,
    source: Source,
    rejects: RejectsFile | None,
) -> int:
    from users_service.entrypoints.container import container_for

    container = container_for(settings)
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    loop.add_signal_handler(signal.SIGTERM, interrupted.set)
    progress = Progress(
        quiet=request.quiet,
        interval=request.progress_interval,
        total=source.size,
        position=source.position,
    )
    options = ImportOptions(
        on_conflict=request.on_conflict,
        dry_run=request.dry_run,
        keep_ids=request.keep_ids,
        keep_timestamps=request.keep_timestamps,
        chunk_size=request.chunk_size,
        on_reject=rejects or (lambda _r: None),
        on_chunk=progress.update,
        stop_requested=interrupted.is_set,
        overlap=not request.sequential,
    )
    counts = ImportCounts()
    rows = read_rows(
        source,
        fmt,
        request.email_column,
        request.name_column,
        on_header=rejects.header if rejects is not None else None,
    )
    try:
        await container.import_users()(TRUSTED, rows, options, counts)
    except ImportStopped as exc:
        progress.finish(counts, "stopped")
        print(
            f"users-service import: {exc}; that chunk was rolled back (--on-conflict fail)",
            file=sys.stderr,
        )
        return STOPPED
    except (UnicodeDecodeError, OSError, EOFError) as exc:  # a corrupt or truncated input
        progress.finish(counts, "failed")
        print(f"users-service import: cannot read the input: {exc}", file=sys.stderr)
        return FATAL
    except StorageUnavailable as exc:  # what was committed stands: run again to resume
        progress.finish(counts, "failed")
        print(f"users-service import: the database is unavailable: {exc}", file=sys.stderr)
        return FATAL
    finally:
        await _dispose(container)
    if interrupted.is_set():
        progress.finish(counts, "interrupted")
        return INTERRUPTED
    progress.finish(counts, "dry run" if request.dry_run else "done")
    return REJECTED if counts.rejected else OK


async def _dispose(container: Container) -> None:
    if container.backend() == "sqlalchemy":
        await container.database().dispose()
