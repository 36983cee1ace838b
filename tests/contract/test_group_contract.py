"""The groups contract: every storage adapter keeps groups and memberships alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.test_repository_contract import seed
from users_service.application.events import ChangeKind, EventContext
from users_service.application.group_repository import GroupPageQuery
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.errors import GroupNameTaken
from users_service.domain.group import Group, GroupChanges, NewGroup
from users_service.domain.values import Description, Name

T0 = datetime(2026, 12, 5, 9, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
EVENT = EventContext(traceparent=None, occurred_at=T1)


async def make_group(uow: UnitOfWorkFactory, name: str, description: str | None = None) -> Group:
    async with uow() as tx:
        group = await tx.groups.insert(
            NewGroup(Name.parse(name), Description.parse(description) if description else None),
            T0,
        )
        await tx.commit()
    assert group is not None
    return group


async def change(
    uow: UnitOfWorkFactory,
    group_id: int,
    add: list[int] = [],  # noqa: B006 (never mutated)
    remove: list[int] = [],  # noqa: B006
    event: EventContext | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...], Group]:
    async with uow() as tx:
        group = await tx.groups.lock(group_id)
        assert group is not None
        result = await tx.groups.change_members(group, add, remove, T1, event)
        await tx.commit()
    return result.added, result.removed, result.group


class TestGroups:
    async def test_a_group_round_trips(self, uow: UnitOfWorkFactory) -> None:
        group = await make_group(uow, "Engineering", "Everyone who ships code")
        assert (group.name.value, group.member_count, group.version) == ("Engineering", 0, 1)
        assert group.description == Description("Everyone who ships code")
        assert group.created_at == group.updated_at == T0
        async with uow(read_only=True) as tx:
            assert await tx.groups.get(group.id) == group
            assert await tx.groups.get(group.id + 1000) is None

    async def test_ids_never_repeat_across_users_and_groups(self, uow: UnitOfWorkFactory) -> None:
        [ada] = await seed(uow, "ada@example.com")
        group = await make_group(uow, "Engineering")
        [bob] = await seed(uow, "bob@example.com")
        other = await make_group(uow, "Sales")
        assert len({ada.id, group.id, bob.id, other.id}) == 4
        assert ada.id < group.id < bob.id < other.id

    async def test_a_kept_id_is_never_a_users(self, uow: UnitOfWorkFactory) -> None:
        [ada] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            taken = await tx.groups.insert(NewGroup(Name.parse("Kept")), T0, kept_id=ada.id)
            kept = await tx.groups.insert(NewGroup(Name.parse("Kept")), T0, kept_id=ada.id + 50)
            await tx.commit()
        assert taken is None
        assert kept is not None
        assert kept.id == ada.id + 50
        newer = await make_group(uow, "Newer")
        assert newer.id > kept.id  # the sequence moved past the kept id

    async def test_names_are_unique_whatever_their_case(self, uow: UnitOfWorkFactory) -> None:
        first = await make_group(uow, "Engineering")
        async with uow() as tx:
            assert await tx.groups.insert(NewGroup(Name.parse("ENGINEERING")), T0) is None
        second = await make_group(uow, "Sales")
        async with uow() as tx:
            with pytest.raises(GroupNameTaken):
                await tx.groups.update(second.id, GroupChanges(Name.parse("engineering")), T1)
        async with uow() as tx:  # its own name in another case is no conflict
            renamed = await tx.groups.update(first.id, GroupChanges(Name.parse("ENGINEERING")), T1)
            await tx.commit()
        assert renamed is not None
        assert renamed.name.value == "ENGINEERING"

    async def test_update_patches_and_guards(self, uow: UnitOfWorkFactory) -> None:
        group = await make_group(uow, "Engineering", "old")
        cleared = GroupChanges(description=None, sets_description=True)
        async with uow() as tx:
            assert await tx.groups.update(group.id, cleared, T1, expected_versions=[7]) is None
            updated = await tx.groups.update(group.id, cleared, T1, expected_versions=[1])
            assert await tx.groups.update(group.id, cleared, T1) is None  # changes nothing
            await tx.commit()
        assert updated is not None
        assert (updated.description, updated.version, updated.updated_at) == (None, 2, T1)

    async def test_the_name_filter_finds_a_name_as_written(self, uow: UnitOfWorkFactory) -> None:
        """Whatever the backend's own case folding, a name given as stored is found."""
        equipe = await make_group(uow, "Équipe Ä")
        async with uow(read_only=True) as tx:
            found = await tx.groups.page(GroupPageQuery(limit=5, name="Équipe Ä"))
            other = await tx.groups.page(GroupPageQuery(limit=5, name="equipe a"))
        assert found == [equipe]
        assert other == []

    async def test_pages_and_the_name_filter(self, uow: UnitOfWorkFactory) -> None:
        made = [await make_group(uow, f"Group {i}") for i in range(5)]
        async with uow(read_only=True) as tx:
            first = await tx.groups.page(GroupPageQuery(limit=2))
            rest = await tx.groups.page(GroupPageQuery(limit=10, after_id=first[-1].id))
            newest = await tx.groups.page(GroupPageQuery(limit=1, descending=True))
            named = await tx.groups.page(GroupPageQuery(limit=10, name="GROUP 3"))
        assert [g.id for g in first + list(rest)] == [g.id for g in made]
        assert newest == [made[-1]]
        assert named == [made[3]]

    async def test_delete_takes_memberships_not_members(self, uow: UnitOfWorkFactory) -> None:
        [ada] = await seed(uow, "ada@example.com")
        group = await make_group(uow, "Engineering")
        await change(uow, group.id, add=[ada.id])
        async with uow() as tx:
            assert not await tx.groups.delete(group.id, expected_versions=[1])
            assert await tx.groups.delete(group.id, expected_versions=[2])
            await tx.commit()
        async with uow(read_only=True) as tx:
            assert await tx.groups.get(group.id) is None
            assert await tx.users.get(ada.id) == ada
            assert await tx.groups.groups_of(ada.id, None, 10) == []


class TestMembers:
    async def test_changes_move_count_and_version_once(self, uow: UnitOfWorkFactory) -> None:
        users = await seed(uow, *(f"user{i}@example.com" for i in range(4)))
        ids = [u.id for u in users]
        group = await make_group(uow, "Engineering")
        added, removed, moved = await change(uow, group.id, add=ids[:3])
        assert (added, removed) == (tuple(ids[:3]), ())
        assert (moved.member_count, moved.version, moved.updated_at) == (3, 2, T1)
        # Already members are not added again; non-members are not removed.
        added, removed, moved = await change(uow, group.id, add=[ids[0], ids[3]], remove=[ids[1]])
        assert (added, removed) == ((ids[3],), (ids[1],))
        assert (moved.member_count, moved.version) == (3, 3)
        added, removed, moved = await change(uow, group.id, add=[ids[0]], remove=[ids[1]])
        assert (added, removed, moved.version) == ((), (), 3)  # nothing changed
        async with uow(read_only=True) as tx:
            assert await tx.groups.get(group.id) == moved

    async def test_unknown_users_are_not_added(self, uow: UnitOfWorkFactory) -> None:
        group = await make_group(uow, "Engineering")
        [ada] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            assert await tx.groups.missing_users([ada.id, ada.id + 999]) == {ada.id + 999}
            assert await tx.groups.missing_users([]) == set()
        added, _, moved = await change(uow, group.id, add=[ada.id + 999])
        assert (added, moved.member_count) == ((), 0)

    async def test_member_pages_and_a_users_groups(self, uow: UnitOfWorkFactory) -> None:
        users = await seed(uow, *(f"user{i}@example.com" for i in range(5)))
        groups = [await make_group(uow, f"Group {i}") for i in range(3)]
        for group in groups:
            await change(uow, group.id, add=[u.id for u in users[1:]])
        async with uow(read_only=True) as tx:
            page = await tx.groups.members(groups[0].id, None, 2)
            assert page is not None
            rest = await tx.groups.members(groups[0].id, page[-1].id, 10)
            mine = await tx.groups.groups_of(users[1].id, groups[0].id, 10)
            none = await tx.groups.groups_of(users[0].id, None, 10)
            assert await tx.groups.members(groups[-1].id + 1000, None, 10) is None
            assert await tx.groups.groups_of(users[-1].id + 1000, None, 10) is None
        assert rest is not None
        assert mine is not None
        assert [u.id for u in list(page) + list(rest)] == [u.id for u in users[1:]]
        assert page[0] == users[1]
        assert [g.id for g in mine] == [g.id for g in groups[1:]]
        assert none == []

    async def test_references_rank_each_users_groups(self, uow: UnitOfWorkFactory) -> None:
        ada, bob, eve = await seed(uow, "ada@example.com", "bob@example.com", "eve@example.com")
        groups = [await make_group(uow, f"Group {i}") for i in range(4)]
        for group in groups:
            await change(uow, group.id, add=[ada.id])
        await change(uow, groups[2].id, add=[bob.id])
        async with uow(read_only=True) as tx:
            found = await tx.groups.references([ada.id, bob.id, eve.id], 3)
            assert await tx.groups.references([], 3) == {}
        assert [(r.id, r.name) for r in found[ada.id]] == [(g.id, g.name.value) for g in groups[:3]]
        assert [r.id for r in found[bob.id]] == [groups[2].id]
        assert eve.id not in found

    async def test_a_deleted_user_leaves_every_group(self, uow: UnitOfWorkFactory) -> None:
        ada, bob = await seed(uow, "ada@example.com", "bob@example.com")
        groups = [await make_group(uow, f"Group {i}") for i in range(2)]
        for group in groups:
            await change(uow, group.id, add=[ada.id, bob.id])
        async with uow() as tx:
            assert await tx.users.delete(ada.id, None, EVENT, now=T1)
            await tx.commit()
            events = await tx.outbox.pending(100)
        async with uow(read_only=True) as tx:
            for group in groups:
                left = await tx.groups.get(group.id)
                assert left is not None
                assert (left.member_count, left.version) == (1, 3)
                assert await tx.groups.members(group.id, None, 10) == [bob]
        removed = [
            (e.subject_id, e.member_id) for e in events if e.kind is ChangeKind.MEMBER_REMOVED
        ]
        assert removed == [(groups[0].id, ada.id), (groups[1].id, ada.id)]


class TestGroupEvents:
    async def test_every_change_has_its_event(self, uow: UnitOfWorkFactory) -> None:
        [ada] = await seed(uow, "ada@example.com")
        async with uow() as tx:
            group = await tx.groups.insert(NewGroup(Name.parse("Engineering")), T0, EVENT)
            await tx.commit()
        assert group is not None
        await change(uow, group.id, add=[ada.id], event=EVENT)
        await change(uow, group.id, remove=[ada.id], event=EVENT)
        async with uow() as tx:
            renamed = await tx.groups.update(
                group.id, GroupChanges(Name.parse("Eng")), T1, event=EVENT
            )
            assert await tx.groups.delete(group.id, None, EVENT)
            await tx.commit()
        assert renamed is not None
        async with uow() as tx:
            events = await tx.outbox.pending(100)
        assert [(e.kind, e.subject_id, e.version, e.member_id) for e in events] == [
            (ChangeKind.GROUP_CREATED, group.id, 1, None),
            (ChangeKind.MEMBER_ADDED, group.id, 2, ada.id),
            (ChangeKind.MEMBER_REMOVED, group.id, 3, ada.id),
            (ChangeKind.GROUP_UPDATED, group.id, 4, None),
            (ChangeKind.GROUP_DELETED, group.id, 4, None),
        ]
        assert events[0].group == group
        assert events[3].group == renamed
        assert events[3].changed_fields == ("name",)
        assert events[4].group is None


async def test_a_deleted_user_is_not_added(uow: UnitOfWorkFactory) -> None:
    group = await make_group(uow, "Engineering")
    [ada] = await seed(uow, "ada@example.com")
    async with uow() as tx:
        assert await tx.users.delete(ada.id, now=T1)
        await tx.commit()
    added, _, moved = await change(uow, group.id, add=[ada.id])
    assert (added, moved.member_count) == ((), 0)
