"""An import that keeps ids and timestamps means the same on every adapter: the ids and
timestamps given are stored, a taken id or email skips the row, and the id sequence moves
past the kept ids so that the next ordinary insert never collides."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.test_repository_contract import T0, new
from users_service.application.events import EventContext
from users_service.application.repository import Kept
from users_service.application.unit_of_work import UnitOfWorkFactory

EARLIER = T0 - timedelta(days=400)
LATER = T0 - timedelta(days=3)


async def test_kept_ids_and_timestamps(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        stored = await tx.users.insert_new(
            [new("a@example.com"), new("b@example.com")],
            T0,
            EventContext(),
            [Kept(500, EARLIER, LATER), Kept(900, EARLIER)],
        )
        await tx.commit()
    a, b = stored
    assert a is not None
    assert b is not None
    assert (a.id, a.created_at, a.updated_at, a.version) == (500, EARLIER, LATER, 1)
    assert (b.id, b.created_at, b.updated_at) == (900, EARLIER, EARLIER)

    async with uow() as tx:  # a taken id, or a taken email, skips the row
        again = await tx.users.insert_new(
            [new("c@example.com"), new("A@example.com"), new("d@example.com")],
            T0,
            None,
            [Kept(900), Kept(501), Kept(901)],
        )
        [plain] = await tx.users.insert_new([new("e@example.com")], T0)
        await tx.commit()
    assert [u.id if u else None for u in again] == [None, None, 901]
    assert plain is not None
    assert plain.id > 901  # the sequence moved past the kept ids
    assert (plain.created_at, plain.updated_at) == (T0, T0)

    async with uow() as tx:
        events = await tx.outbox.pending(10)
    assert [(e.subject_id, e.occurred_at) for e in events] == [(500, T0), (900, T0)]


async def test_kept_timestamps_with_new_ids(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        [user] = await tx.users.insert_new([new("a@example.com")], T0, None, [Kept(None, EARLIER)])
        await tx.commit()
    assert user is not None
    assert (user.created_at, user.updated_at) == (EARLIER, EARLIER)
