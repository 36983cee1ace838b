"""The `ImportUsers` use case on the in-memory adapter: the API's validation per row,
repeats and stored emails as conflicts, whole chunks, dry runs, events."""

from __future__ import annotations

import pytest

from tests.support.clock import SteppingClock
from tests.support.emails import EMAILS
from users_service.adapters.memory import InMemoryUnitOfWorkFactory
from users_service.application.access import TRUSTED, InsufficientScope, Principal
from users_service.application.events import EventPolicy
from users_service.application.repository import PageQuery
from users_service.application.users.importing import (
    ImportCounts,
    ImportOptions,
    ImportRow,
    ImportStopped,
    ImportUsers,
    Rejection,
)


def _rows(*pairs: tuple[object, object]) -> list[ImportRow]:
    return [ImportRow(i + 2, {"email": e, "name": n}) for i, (e, n) in enumerate(pairs)]


async def _stored(uow: InMemoryUnitOfWorkFactory) -> list[str]:
    async with uow(read_only=True) as unit:
        return [u.email.value for u in await unit.users.page(PageQuery(limit=100))]


@pytest.mark.parametrize("overlap", [True, False])
async def test_rows_are_validated_repeats_skipped_and_events_recorded(overlap: bool) -> None:
    uow = InMemoryUnitOfWorkFactory()
    importer = ImportUsers(uow, SteppingClock(), EMAILS, events=EventPolicy())
    rejected: list[Rejection] = []
    rows = _rows(
        ("a@example.com", "A"),
        ("bad", "B"),
        ("c@example.com", 7),
        ("A@EXAMPLE.com", "again"),
        (None, None),
        ("d@example.com", "D"),
    )
    options = ImportOptions(chunk_size=2, on_reject=rejected.append, overlap=overlap)
    counts = await importer(TRUSTED, rows, options)
    assert counts == ImportCounts(read=6, imported=2, skipped=1, rejected=3)
    assert await _stored(uow) == ["a@example.com", "d@example.com"]
    assert [(r.row.line, [p.loc for p in r.problems]) for r in rejected] == [
        (3, [("email",)]),
        (4, [("name",)]),
        (6, [("email",), ("name",)]),
    ]
    async with uow() as unit:
        assert [e.kind.value for e in await unit.outbox.pending(10)] == ["created", "created"]


async def test_fail_on_conflict_rolls_back_the_chunk() -> None:
    uow = InMemoryUnitOfWorkFactory()
    importer = ImportUsers(uow, SteppingClock(), EMAILS)
    await importer(TRUSTED, _rows(("b@example.com", "B")), ImportOptions())
    counts = ImportCounts()
    rows = _rows(("a@example.com", "A"), ("c@example.com", "C"), ("b@example.com", "B"))
    with pytest.raises(ImportStopped) as stopped:
        await importer(TRUSTED, rows, ImportOptions(on_conflict="fail", chunk_size=2), counts)
    assert stopped.value.row.line == 4
    assert await _stored(uow) == ["b@example.com", "a@example.com", "c@example.com"]
    assert counts.imported == 2  # the first chunk stood; the second was rolled back


async def test_a_dry_run_writes_nothing_but_sees_conflicts_across_chunks() -> None:
    uow = InMemoryUnitOfWorkFactory()
    importer = ImportUsers(uow, SteppingClock(), EMAILS, events=EventPolicy())
    rows = _rows(("a@example.com", "A"), ("b@example.com", "B"), ("a@example.com", "A"))
    counts = await importer(TRUSTED, rows, ImportOptions(dry_run=True, chunk_size=1))
    assert counts == ImportCounts(read=3, imported=2, skipped=1, rejected=0)
    assert await _stored(uow) == []
    async with uow() as unit:
        assert list(await unit.outbox.pending(10)) == []


async def test_a_stop_request_ends_the_run_between_chunks() -> None:
    uow = InMemoryUnitOfWorkFactory()
    importer = ImportUsers(uow, SteppingClock(), EMAILS)
    rows = _rows(*[(f"u{i}@example.com", "U") for i in range(10)])
    options = ImportOptions(chunk_size=3, stop_requested=lambda: True)
    assert (await importer(TRUSTED, rows, options)).imported == 3


async def test_importing_needs_the_write_scope() -> None:
    importer = ImportUsers(InMemoryUnitOfWorkFactory(), SteppingClock(), EMAILS)
    reader = Principal("reader", frozenset({"users:read"}))
    with pytest.raises(InsufficientScope):
        await importer(reader, [], ImportOptions())
