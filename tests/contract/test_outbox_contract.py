"""The outbox means the same on every adapter (memory, SQLite, PostgreSQL): each write
asked to record its event does so in the same atomic step; a write that does not stand
leaves no event; the relay reads pending events in position order, a user's in the order
of its changes, and marks and purges them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.test_repository_contract import T0, new
from users_service.application.events import ChangeEvent, ChangeKind, EventContext
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import EmailAlreadyRegistered
from users_service.domain.user import UserChanges
from users_service.domain.values import Email, Name

T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
TRACE = EventContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
# A deletion's time comes from the use case's clock, never the adapter's wall clock.
DELETION = EventContext(TRACE.traceparent, occurred_at=T2)


async def _pending(uow: UnitOfWorkFactory) -> list[ChangeEvent]:
    async with uow() as tx:
        return list(await tx.outbox.pending(100))


async def test_every_change_records_its_event(uow: UnitOfWorkFactory) -> None:
    async with uow(insert_only=True) as tx:
        [ada] = await tx.users.insert_new([new("ada@example.com")], T0, TRACE)
    assert ada is not None
    async with uow() as tx:
        stored = await tx.users.insert_new(
            [new("bob@example.com"), new("cy@example.com")], T0, TRACE
        )
        await tx.commit()
    async with uow() as tx:
        changes = UserChanges(email=Email("Ada@Example.org"), name=Name("Ada"))
        updated = await tx.users.update(ada.id, changes, T1, None, TRACE)
        await tx.commit()
    assert updated is not None
    async with uow() as tx:
        assert await tx.users.delete(ada.id, None, DELETION, now=T0)
        await tx.commit()

    events = await _pending(uow)
    assert [(e.kind, e.subject_id, e.version) for e in events] == [
        (ChangeKind.CREATED, ada.id, 1),
        *[(ChangeKind.CREATED, u.id, 1) for u in sorted(stored, key=lambda u: u.id)],  # type: ignore[union-attr]
        (ChangeKind.UPDATED, ada.id, 2),
        (ChangeKind.DELETED, ada.id, 2),
    ]
    assert [e.position for e in events] == sorted(e.position for e in events)
    assert len({e.event_id for e in events}) == len(events)
    created, *_, change, deletion = events
    assert created.user == ada
    assert created.occurred_at == T0
    assert change.user == updated
    assert change.changed_fields == ("email", "name")
    assert change.occurred_at == T1
    assert deletion.user is None
    assert deletion.occurred_at == T2
    assert {e.traceparent for e in events} == {TRACE.traceparent}


async def test_changed_fields_name_only_what_changed(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        [ada] = await tx.users.insert_new([new("ada@example.com")], T0)
        assert ada is not None
        await tx.users.update(
            ada.id, UserChanges(email=ada.email, name=Name("Ada L")), T1, None, TRACE
        )
        await tx.commit()
    [event] = await _pending(uow)  # the insert asked for no event
    assert event.changed_fields == ("name",)


async def test_a_write_that_does_not_stand_leaves_no_event(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:  # rolled back: no commit
        await tx.users.insert_new([new("ada@example.com")], T0, TRACE)
    async with uow(insert_only=True) as tx:
        [ada] = await tx.users.insert_new([new("ada@example.com")], T0, TRACE)
    assert ada is not None
    async with uow(insert_only=True) as tx:  # a conflict inserts nothing
        assert await tx.users.insert_new([new("ADA@example.com")], T0, TRACE) == [None]
    async with uow() as tx:  # a version mismatch updates and deletes nothing
        changes = UserChanges(name=Name("Other"))
        assert await tx.users.update(ada.id, changes, T1, [7], TRACE) is None
        assert not await tx.users.delete(ada.id, [7], DELETION, now=T0)
        await tx.commit()
    async with uow() as tx:  # a patch that changes nothing writes nothing
        assert await tx.users.update(ada.id, UserChanges(name=ada.name), T1, None, TRACE) is None
        await tx.commit()
    async with uow() as tx:  # an update refused by the unique email: the whole unit undone
        [bob] = await tx.users.insert_new([new("bob@example.com")], T0)
        assert bob is not None
        with pytest.raises(EmailAlreadyRegistered):
            await tx.users.update(bob.id, UserChanges(email=ada.email), T1, None, TRACE)
    assert [e.kind for e in await _pending(uow)] == [ChangeKind.CREATED]


async def test_published_events_leave_the_pending_and_are_purged(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        await tx.users.insert_new([new(f"u{i}@example.com") for i in range(3)], T0, TRACE)
        await tx.commit()
    first, second, third = await _pending(uow)
    async with uow() as tx:
        assert await tx.outbox.try_lead()
        await tx.outbox.mark_published([first.position, second.position], T0)
        backlog = await tx.outbox.backlog()
        await tx.commit()
    assert backlog.pending == 1
    assert backlog.oldest == third.occurred_at
    assert await _pending(uow) == [third]
    async with uow() as tx:
        assert await tx.outbox.purge(T0) == 0  # published at T0: not before it
        assert await tx.outbox.purge(T1) == 2
        await tx.commit()
    assert await _pending(uow) == [third]
