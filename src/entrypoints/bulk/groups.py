"""`users-service export-groups` and `import-groups`: groups and their memberships as JSON
Lines, one `{"group": ...}` line per group (as the API shows it) followed by
`{"members": {"group_id", "user_ids"}}` lines of at most 1,000 ids each."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from users_service.application.access import TRUSTED
from users_service.application.errors import StorageUnavailable
from users_service.application.group_repository import MembersVanished
from users_service.application.groups.bulk import Members
from users_service.application.representation import group_dict
from users_service.domain.errors import DomainError
from users_service.entrypoints.bulk.files import InputError, Source, open_source
from users_service.entrypoints.bulk.progress import Progress
from users_service.entrypoints.settings import Settings

OK, REJECTED, FATAL = 0, 1, 2
SHOWN_MISSING = 10  # unknown user ids named on stderr, per run


@dataclass
class GroupCounts:
    read: int = 0
    groups: int = 0
    reused: int = 0
    members: int = 0
    rejected: int = 0

    def describe(self) -> str:
        return (
            f"read {self.read:,} lines: {self.groups:,} groups created, {self.reused:,} there "
            f"already, {self.members:,} members added, {self.rejected:,} unknown users"
        )


def run_export_groups(
    settings: Settings, output: str | None, *, quiet: bool, interval: float
) -> int:
    try:
        with contextlib.ExitStack() as files:
            out: IO[str] = sys.stdout
            if output not in (None, "-"):
                out = files.enter_context(Path(str(output)).open("w", encoding="utf-8"))
            return asyncio.run(_export(settings, out, quiet, interval))
    except OSError as exc:
        print(f"users-service export-groups: {exc}", file=sys.stderr)
        return FATAL


async def _export(settings: Settings, out: IO[str], quiet: bool, interval: float) -> int:
    from users_service.entrypoints.container import container_for

    container = container_for(settings)
    counts = GroupCounts()
    progress = Progress(quiet=quiet, interval=interval, total=None, position=lambda: 0)
    try:
        async for item in container.export_groups()(TRUSTED):
            line: dict[str, Any]
            if isinstance(item, Members):
                line = {"members": {"group_id": item.group_id, "user_ids": list(item.user_ids)}}
                counts.members += len(item.user_ids)
            else:
                line = {"group": group_dict(item)}
                counts.groups += 1
            out.write(orjson.dumps(line, option=orjson.OPT_UTC_Z).decode() + "\n")
            counts.read += 1
        out.flush()
    finally:
        if container.backend() == "sqlalchemy":
            await container.database().dispose()
    progress.finish(counts, "done")
    return OK


def run_import_groups(
    settings: Settings,
    path: str,
    *,
    keep_ids: bool,
    keep_timestamps: bool,
    quiet: bool,
    interval: float,
) -> int:
    try:
        source = open_source(path)
    except (OSError, InputError) as exc:
        print(f"users-service import-groups: {exc}", file=sys.stderr)
        return FATAL
    try:
        return asyncio.run(_import(settings, source, keep_ids, keep_timestamps, quiet, interval))
    except (OSError, UnicodeDecodeError, EOFError) as exc:  # a corrupt or truncated input
        print(f"users-service import-groups: cannot read the input: {exc}", file=sys.stderr)
        return FATAL
    finally:
        source.close()


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def _import(
    settings: Settings,
    source: Source,
    keep_ids: bool,
    keep_timestamps: bool,
    quiet: bool,
    interval: float,
) -> int:
    from users_service.entrypoints.container import container_for

    container = container_for(settings)
    restore = container.import_groups()
    counts = GroupCounts()
    progress = Progress(quiet=quiet, interval=interval, total=source.size, position=source.position)
    here: dict[int, int] = {}  # the export's group id -> this database's
    kept_updated: dict[int, datetime] = {}  # with --keep-timestamps: each group's updated_at
    shown = 0
    try:
        for number, text in enumerate(source.text, start=1):
            if not text.strip():
                continue
            counts.read += 1
            try:
                line = orjson.loads(text)
                if "group" in line:
                    group = line["group"]
                    restored = await restore.group(
                        TRUSTED,
                        group["name"],
                        group.get("description"),
                        kept_id=int(group["id"]) if keep_ids else None,
                        kept_times=(
                            (_time(group["created_at"]), _time(group["updated_at"]))
                            if keep_timestamps
                            else None
                        ),
                    )
                    here[int(group["id"])] = restored.id
                    if keep_timestamps:
                        kept_updated[restored.id] = _time(group["updated_at"])
                    counts.groups += restored.created
                    counts.reused += not restored.created
                    continue
                members = line["members"]
                group_id = here[int(members["group_id"])]
                user_ids = [int(i) for i in members["user_ids"]]
            except (ValueError, KeyError, TypeError, DomainError) as exc:
                print(f"users-service import-groups: line {number}: {exc!r}", file=sys.stderr)
                return FATAL
            try:
                added, missing = await restore.members(
                    TRUSTED, group_id, user_ids, kept_updated_at=kept_updated.get(group_id)
                )
            except (ValueError, MembersVanished) as exc:
                print(f"users-service import-groups: line {number}: {exc!r}", file=sys.stderr)
                return FATAL
            counts.members += added
            counts.rejected += len(missing)
            for user_id in sorted(missing):
                if shown < SHOWN_MISSING:
                    print(
                        f"users-service import-groups: line {number}: no user has id "
                        f"{user_id} (restore the users with --keep-ids first)",
                        file=sys.stderr,
                    )
                shown += 1
            progress.update(counts)
    except StorageUnavailable as exc:  # what was committed stands: run again to resume
        print(f"users-service import-groups: the database is unavailable: {exc}", file=sys.stderr)
        return FATAL
    finally:
        if container.backend() == "sqlalchemy":
            await container.database().dispose()
    progress.finish(counts, "done")
    return REJECTED if counts.rejected else OK
