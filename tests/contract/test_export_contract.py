"""An export reads one consistent snapshot on every adapter: what other writers commit
while it pages does not show, whatever page it is on."""

from __future__ import annotations

from tests.contract.test_repository_contract import T0, new
from tests.support.emails import EMAILS
from users_service.application.access import TRUSTED
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.application.users.exporting import ExportUsers
from users_service.domain.user import UserChanges
from users_service.domain.values import Name


async def test_an_export_sees_one_snapshot(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        stored = await tx.users.insert_new([new(f"u{i}@example.com") for i in range(5)], T0)
        await tx.commit()
    ids = [u.id for u in stored if u is not None]
    seen = []
    async for user in ExportUsers(uow, EMAILS, page=2)(TRUSTED):
        seen.append((user.id, user.name.value))
        if len(seen) == 1:  # mid-export, another writer changes what is left to read
            async with uow() as tx:
                await tx.users.delete(ids[3], now=T0)
                await tx.users.update(ids[4], UserChanges(name=Name("Changed")), T0)
                await tx.users.insert_new([new("late@example.com")], T0)
                await tx.commit()
    assert [user_id for user_id, _ in seen] == ids
    assert "Changed" not in {name for _, name in seen}


async def test_export_filters(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        stored = await tx.users.insert_new([new(f"f{i}@example.com") for i in range(4)], T0)
        await tx.commit()
    ids = [u.id for u in stored if u is not None]
    export = ExportUsers(uow, EMAILS, page=2)
    assert [u.id async for u in export(TRUSTED, email="F2@EXAMPLE.com")] == [ids[2]]
    assert [u.id async for u in export(TRUSTED, ids=[ids[3], ids[0]])] == [ids[0], ids[3]]
