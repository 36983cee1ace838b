from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.emails import EMAILS
from users_service.application.repository import PageQuery
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import EmailAlreadyRegistered
from users_service.domain.user import NewUser, User, UserChanges
from users_service.domain.values import Email, Name

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)


def new(email: str, name: str = "Someone") -> NewUser:
    return NewUser(EMAILS.parse(email), Name.parse(name))


async def seed(uow: UnitOfWorkFactory, *emails: str) -> list[User]:
    async with uow() as tx:
        stored = await tx.users.insert_new([new(e) for e in emails], T0)
        await tx.commit()
    users = [u for u in stored if u is not None]
    assert len(users) == len(emails)
    return users


class TestInsertAndGet:
    async def test_inserted_user_round_trips(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "Ada@example.com")
        assert user.email.value == "Ada@example.com"
        assert user.version == 1
        assert user.created_at == T0
        assert user.updated_at == T0
        async with uow(read_only=True) as tx:
            assert await tx.users.get(user.id) == user

    async def test_timestamps_are_aware_utc(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "ada@example.com")
        async with uow(read_only=True) as tx:
            fetched = await tx.users.get(user.id)
        assert fetched is not None
        assert fetched.created_at.utcoffset() == timedelta(0)

    async def test_missing_user_is_none(self, uow: UnitOfWorkFactory) -> None:
        async with uow(read_only=True) as tx:
            assert await tx.users.get(123456) is None

    async def test_email_uniqueness_ignores_case(self, uow: UnitOfWorkFactory) -> None:
        await seed(uow, "ada@example.com")
        async with uow() as tx:
            stored = await tx.users.insert_new([new("bob@example.com"), new("ADA@example.com")], T0)
            await tx.commit()
        assert stored[0] is not None
        assert stored[1] is None

    async def test_repeats_inside_one_insert_keep_the_first(self, uow: UnitOfWorkFactory) -> None:
        async with uow() as tx:
            stored = await tx.users.insert_new(
                [new("x@example.com", "First"), new("X@example.com", "Second")], T0
            )
            await tx.commit()
        assert stored[0] is not None
        assert stored[0].name.value == "First"
        assert stored[1] is None

    async def test_insert_keeps_request_order(self, uow: UnitOfWorkFactory) -> None:
        emails = [f"user{i:03}@example.com" for i in range(250)]
        users = await seed(uow, *emails)
        assert [u.email.value for u in users] == emails
        assert len({u.id for u in users}) == 250

    async def test_ids_are_never_reused(self, uow: UnitOfWorkFactory) -> None:
        [first, second] = await seed(uow, "a@example.com", "b@example.com")
        async with uow() as tx:
            assert await tx.users.delete(second.id, now=T1)
            await tx.commit()
        [third] = await seed(uow, "c@example.com")
        assert third.id > second.id > first.id


class TestTransactions:
    async def test_uncommitted_changes_vanish(self, uow: UnitOfWorkFactory) -> None:
        async with uow() as tx:
            [user] = await tx.users.insert_new([new("ghost@example.com")], T0)
            assert user is not None
            assert await tx.users.get(user.id) == user
        async with uow(read_only=True) as tx:
            assert await tx.users.get(user.id) is None

    async def test_error_rolls_back(self, uow: UnitOfWorkFactory) -> None:
        async def fail_midway() -> None:
            async with uow() as tx:
                await tx.users.insert_new([new("ghost@example.com")], T0)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await fail_midway()
        async with uow(read_only=True) as tx:
            page = await tx.users.page(PageQuery(limit=10))
        assert page == []

    async def test_rolled_back_email_is_free(self, uow: UnitOfWorkFactory) -> None:
        async with uow() as tx:
            await tx.users.insert_new([new("ghost@example.com")], T0)
        await seed(uow, "GHOST@example.com")

    async def test_uncommitted_rows_are_invisible_to_readers(self, uow: UnitOfWorkFactory) -> None:
        async with uow() as writer:
            [user] = await writer.users.insert_new([new("hidden@example.com")], T0)
            assert user is not None
            async with uow(read_only=True) as reader:
                assert await reader.users.get(user.id) is None
            await writer.commit()
        async with uow(read_only=True) as reader:
            assert await reader.users.get(user.id) == user


class TestPages:
    async def test_ascending_keyset(self, uow: UnitOfWorkFactory) -> None:
        users = await seed(uow, *(f"u{i}@example.com" for i in range(6)))
        ids = [u.id for u in users]
        async with uow(read_only=True) as tx:
            first = await tx.users.page(PageQuery(limit=4))
            rest = await tx.users.page(PageQuery(limit=4, after_id=first[-1].id))
        assert [u.id for u in first] == ids[:4]
        assert [u.id for u in rest] == ids[4:]

    async def test_descending_keyset(self, uow: UnitOfWorkFactory) -> None:
        users = await seed(uow, *(f"u{i}@example.com" for i in range(5)))
        ids = [u.id for u in users][::-1]
        async with uow(read_only=True) as tx:
            first = await tx.users.page(PageQuery(limit=2, descending=True))
            second = await tx.users.page(PageQuery(limit=2, descending=True, after_id=first[-1].id))
        assert [u.id for u in first] == ids[:2]
        assert [u.id for u in second] == ids[2:4]

    async def test_email_filter(self, uow: UnitOfWorkFactory) -> None:
        await seed(uow, "Ada@example.com", "bob@example.com")
        async with uow(read_only=True) as tx:
            found = await tx.users.page(PageQuery(limit=5, email_key="ada@example.com"))
        assert [u.email.value for u in found] == ["Ada@example.com"]

    async def test_ids_filter_with_keyset(self, uow: UnitOfWorkFactory) -> None:
        users = await seed(uow, *(f"u{i}@example.com" for i in range(5)))
        wanted = (users[0].id, users[2].id, users[4].id, 10**12)
        async with uow(read_only=True) as tx:
            found = await tx.users.page(PageQuery(limit=5, ids=wanted, after_id=users[0].id))
        assert [u.id for u in found] == [users[2].id, users[4].id]


class TestUpdate:
    async def test_update_bumps_version(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            updated = await tx.users.update(user.id, UserChanges(name=Name("Ada L")), T1)
            await tx.commit()
        assert updated is not None
        assert (updated.name.value, updated.version, updated.updated_at) == ("Ada L", 2, T1)
        assert updated.created_at == T0
        async with uow(read_only=True) as tx:
            assert await tx.users.get(user.id) == updated

    async def test_expected_version_guards_the_write(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "ada@example.com")
        changes = UserChanges(name=Name("Changed"))
        async with uow() as tx:
            assert await tx.users.update(user.id, changes, T1, expected_versions=[2]) is None
            updated = await tx.users.update(user.id, changes, T1, expected_versions=[1])
            await tx.commit()
        assert updated is not None
        assert updated.version == 2

    async def test_noop_and_missing_return_none(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            same = UserChanges(email=Email("ada@example.com"), name=Name("Someone"))
            assert await tx.users.update(user.id, same, T1) is None
            assert await tx.users.update(99999, UserChanges(name=Name("X")), T1) is None

    async def test_case_change_of_own_email(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            updated = await tx.users.update(
                user.id, UserChanges(email=Email("ADA@example.com")), T1
            )
            await tx.commit()
        assert updated is not None
        assert updated.email.value == "ADA@example.com"

    async def test_taken_email_raises(self, uow: UnitOfWorkFactory) -> None:
        [ada, _] = await seed(uow, "ada@example.com", "bob@example.com")
        async with uow() as tx:
            with pytest.raises(EmailAlreadyRegistered) as caught:
                await tx.users.update(ada.id, UserChanges(email=Email("Bob@example.com")), T1)
        assert caught.value.emails == ("Bob@example.com",)


class TestDelete:
    async def test_delete(self, uow: UnitOfWorkFactory) -> None:
        [user] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            assert not await tx.users.delete(user.id, expected_versions=[3], now=T1)
            assert await tx.users.delete(user.id, expected_versions=[1], now=T1)
            assert not await tx.users.delete(user.id, now=T1)
            await tx.commit()
        async with uow(read_only=True) as tx:
            assert await tx.users.get(user.id) is None
