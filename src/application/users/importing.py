"""Import users in bulk: every row validated as the API validates it, written in chunks
(one statement per chunk), conflicts decided by the database.

A row is a line number and its raw fields. A row the API would refuse with a 422 is
rejected, with the same refusals (`InvalidValue`: field, location, message). A row whose
email is already stored, or appeared earlier in the file, is a conflict: skipped
(`on_conflict="skip"`), or the end of the run (`"fail"`: the current chunk is rolled back
whole and `ImportStopped` names the row). Earlier rows of the same chunk are told apart
here; earlier chunks' rows and stored users by the unique index, so memory never holds
more than a chunk.

Resumable: a chunk is one atomic write that skips emails already stored, so a run killed
at any moment and started again with the same input imports what is missing and
duplicates nothing (the rows already imported are counted as skipped).

`dry_run` runs every chunk in one unit of work that is never committed: everything is
validated, against the database too, and nothing is written. Each imported user gets its
`created` event, as any create does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Literal

from users_service.application.access import WRITE, Principal, require
from users_service.application.clock import Clock
from users_service.application.emails import EmailSyntax
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.metrics import NO_METRICS, UsageMetrics
from users_service.application.repository import Kept
from users_service.application.unit_of_work import UnitOfWork, UnitOfWorkFactory
from users_service.domain.errors import InvalidValue, InvalidValues, refuse_all
from users_service.domain.user import NewUser
from users_service.domain.values import Name

OnConflict = Literal["skip", "fail"]
DEFAULT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int  # where the row starts (a quoted CSV field may span lines)
    fields: Mapping[str, object]  # what is validated: email, name (and id, timestamps)
    unreadable: InvalidValue | None = None  # the reader could not make fields of it
    # The row as read, when its columns differ from `fields` (a CSV's own header): the
    # rejects file repeats it. None: `fields` is the row as read.
    source: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    row: ImportRow
    problems: tuple[InvalidValue, ...]


@dataclass(slots=True)
class ImportCounts:
    read: int = 0
    imported: int = 0
    skipped: int = 0
    rejected: int = 0

    def describe(self) -> str:
        return (
            f"read {self.read:,}, imported {self.imported:,}, skipped {self.skipped:,}, "
            f"rejected {self.rejected:,}"
        )


class ImportStopped(Exception):
    """`on_conflict="fail"` met a conflict: its chunk was rolled back."""

    def __init__(self, row: ImportRow, email: str) -> None:
        super().__init__(f"line {row.line}: {email} is already stored or earlier in the input")
        self.row = row
        self.email = email


@dataclass(slots=True)
class ImportOptions:
    on_conflict: OnConflict = "skip"
    dry_run: bool = False
    keep_ids: bool = False  # each row's `id`, and the id sequence moved past them
    keep_timestamps: bool = False  # each row's `created_at` (and `updated_at`)
    chunk_size: int = DEFAULT_CHUNK
    on_reject: Callable[[Rejection], None] = lambda _rejection: None
    on_chunk: Callable[[ImportCounts], None] = lambda _counts: None
    # Checked between chunks: a chunk, once begun, commits or rolls back whole.
    stop_requested: Callable[[], bool] = field(default=lambda: False)
    # Validate the next chunk in a worker thread while this one is written (see _chunks).
    overlap: bool = True


@dataclass(slots=True)
class _Prepared:
    """A chunk, validated: what to write, what repeats an earlier row, what is refused."""

    read: int
    unique: list[tuple[ImportRow, NewUser, Kept | None]] = field(default_factory=list)
    repeats: list[tuple[ImportRow, NewUser, Kept | None]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    seen: set[object] = field(default_factory=set)


class ImportUsers:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        emails: EmailSyntax,
        metrics: UsageMetrics = NO_METRICS,
        events: EventPolicy = NO_EVENTS,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._emails = emails
        self._metrics = metrics
        self._events = events

    async def __call__(
        self,
        actor: Principal,
        rows: Iterable[ImportRow],
        options: ImportOptions,
        counts: ImportCounts | None = None,
    ) -> ImportCounts:
        """`counts` is filled as the run goes (the caller still has it if the run stops)."""
        require(actor, WRITE)
        counts = counts if counts is not None else ImportCounts()
        if options.dry_run:
            async with self._uow() as unit:  # never committed
                await self._chunks(unit, rows, options, counts)
            return counts
        await self._chunks(None, rows, options, counts)
        return counts

    async def _chunks(
        self,
        unit: UnitOfWork | None,
        rows: Iterable[ImportRow],
        options: ImportOptions,
        counts: ImportCounts,
    ) -> None:
        """Chunk after chunk, in order. With `options.overlap`, the next chunk is read
        and validated in a worker thread while this one's statement runs in the
        database (the event loop only awaits it), so the two costs overlap instead of
        adding up; each chunk is still written, and counted, in turn."""
        source = iter(rows)

        def prepare() -> _Prepared | None:
            chunk = list(islice(source, options.chunk_size))
            return self._prepare(chunk, options) if chunk else None

        if not options.overlap:
            while (prepared := prepare()) is not None:
                await self._write_chunk(unit, prepared, options, counts)
                if options.stop_requested():
                    return
            return
        upcoming = asyncio.ensure_future(asyncio.to_thread(prepare))
        try:
            while (prepared := await upcoming) is not None:
                upcoming = asyncio.ensure_future(asyncio.to_thread(prepare))
                await self._write_chunk(unit, prepared, options, counts)
                if options.stop_requested():
                    return
        finally:
            if not upcoming.done():
                await asyncio.wait([upcoming])  # a thread cannot be cancelled: let it end

    def _prepare(self, rows: list[ImportRow], options: ImportOptions) -> _Prepared:
        """Validation, and repeats within the chunk (the first is written, the others
        are conflicts). Touches no storage: it may run in a worker thread."""
        prepared = _Prepared(read=len(rows))
        for row in rows:
            if row.unreadable is not None:
                prepared.rejected.append(Rejection(row, (row.unreadable,)))
                continue
            try:
                user, kept = self._parse(row, options)
            except InvalidValues as exc:
                prepared.rejected.append(Rejection(row, tuple(exc.problems)))
                continue
            except InvalidValue as exc:
                prepared.rejected.append(Rejection(row, (exc,)))
                continue
            keys = {user.email.key, ("id", kept.id)} if kept and kept.id else {user.email.key}
            if keys & prepared.seen:
                prepared.repeats.append((row, user, kept))
            else:
                prepared.seen |= keys
                prepared.unique.append((row, user, kept))
        return prepared

    async def _write_chunk(
        self,
        unit: UnitOfWork | None,
        prepared: _Prepared,
        options: ImportOptions,
        counts: ImportCounts,
    ) -> None:
        counts.read += prepared.read
        for rejection in prepared.rejected:
            counts.rejected += 1
            options.on_reject(rejection)
        unique, repeats = prepared.unique, prepared.repeats
        if repeats and options.on_conflict == "fail":
            row, user, _ = repeats[0]
            raise ImportStopped(row, user.email.value)
        if unit is not None:  # a dry run: its one unit of work, never committed
            stored = await self._write(unit, unique)
            _stop_at_conflict(unique, stored, options)
        else:
            # Skipping conflicts, the chunk's one INSERT is atomic by itself: an
            # insert-only unit (no BEGIN/COMMIT round trips on PostgreSQL). Stopping at
            # one needs a transaction to roll the chunk back.
            insert_only = options.on_conflict == "skip"
            async with self._uow(insert_only=insert_only) as own:
                stored = await self._write(own, unique)
                _stop_at_conflict(unique, stored, options)  # before commit: rolled back
                await own.commit()
            self._events.committed()
        imported = sum(stored)
        counts.imported += imported
        counts.skipped += len(unique) - imported + len(repeats)
        if not options.dry_run:
            self._metrics.users_created(imported)
        options.on_chunk(counts)

    async def _write(
        self, unit: UnitOfWork, rows: list[tuple[ImportRow, NewUser, Kept | None]]
    ) -> list[bool]:
        if not rows:
            return []
        users = [user for _, user, _ in rows]
        kept = [k or Kept() for _, _, k in rows] if rows[0][2] is not None else None
        context = self._events.context()
        return await unit.users.insert_imported(users, self._clock.now(), context, kept)

    def _parse(self, row: ImportRow, options: ImportOptions) -> tuple[NewUser, Kept | None]:
        problems: list[InvalidValue] = []
        kept = None
        if options.keep_ids or options.keep_timestamps:
            try:
                kept = _kept(row.fields, options)
            except InvalidValues as exc:
                problems += exc.problems
            except InvalidValue as exc:
                problems.append(exc)
        email = name = None
        raw_email, raw_name = row.fields.get("email"), row.fields.get("name")
        try:
            if not isinstance(raw_email, str):
                raise InvalidValue(
                    "email", "Field required" if raw_email is None else "Must be a string"
                )
            email = self._emails.parse(raw_email)
        except InvalidValue as exc:
            problems.append(exc)
        try:
            if not isinstance(raw_name, str):
                raise InvalidValue(
                    "name", "Field required" if raw_name is None else "Must be a string"
                )
            name = Name.parse(raw_name)
        except InvalidValue as exc:
            problems.append(exc)
        refuse_all(problems)
        assert email is not None
        assert name is not None
        return NewUser(email=email, name=name), kept


def _stop_at_conflict(
    rows: list[tuple[ImportRow, NewUser, Kept | None]],
    stored: list[bool],
    options: ImportOptions,
) -> None:
    if options.on_conflict != "fail":
        return
    for (row, user, _), written in zip(rows, stored, strict=True):
        if not written:
            raise ImportStopped(row, user.email.value)


def _kept(fields: Mapping[str, object], options: ImportOptions) -> Kept:
    """The id and timestamps a row keeps, as an export wrote them."""
    problems: list[InvalidValue] = []
    user_id = created = updated = None
    if options.keep_ids:
        try:
            user_id = _positive_int(fields.get("id"))
        except InvalidValue as exc:
            problems.append(exc)
    if options.keep_timestamps:
        for name in ("created_at", "updated_at"):
            raw = fields.get(name)
            if raw in (None, "") and name == "updated_at":
                continue  # then it is created_at
            try:
                value = _timestamp(name, raw)
            except InvalidValue as exc:
                problems.append(exc)
                continue
            if name == "created_at":
                created = value
            else:
                updated = value
    refuse_all(problems)
    if created is not None and updated is not None and updated < created:
        raise InvalidValue("updated_at", "must not be before created_at")
    return Kept(user_id, created, updated)


def _positive_int(raw: object) -> int:
    if raw is None or raw == "":
        raise InvalidValue("id", "Field required")
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidValue("id", "Input should be a valid integer")
    try:
        value = int(raw)
    except ValueError:
        raise InvalidValue("id", "Input should be a valid integer") from None
    if not 1 <= value <= 2**63 - 1:
        raise InvalidValue("id", "must be between 1 and 9223372036854775807")
    return value


def _timestamp(name: str, raw: object) -> datetime:
    if raw is None or raw == "":
        raise InvalidValue(name, "Field required")
    if not isinstance(raw, str):
        raise InvalidValue(name, "Input should be a valid datetime")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(name, "Input should be a valid datetime (RFC 3339)") from None
    if value.tzinfo is None:
        raise InvalidValue(name, "must name its time zone (as exports do: ...Z)")
    return value.astimezone(UTC)
