"""Groups and memberships in a `Tables` snapshot."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from users_service.adapters.memory.events import record
from users_service.adapters.memory.store import InMemoryStore, Tables
from users_service.application.events import ChangeKind, EventContext
from users_service.application.group_repository import GroupPageQuery, GroupReference
from users_service.domain.errors import GroupNameTaken
from users_service.domain.group import (
    Group,
    GroupChanges,
    MembershipChange,
    NewGroup,
    changed_group_fields,
    group_name_key,
)
from users_service.domain.user import User


def _moved(group: Group, count: int, now: datetime) -> Group:
    return Group(
        id=group.id,
        name=group.name,
        description=group.description,
        member_count=count,
        created_at=group.created_at,
        updated_at=now,
        version=group.version + 1,
    )


def leave_every_group(
    store: InMemoryStore,
    tables: Tables,
    user_id: int,
    now: datetime,
    event: EventContext | None,
) -> None:
    """A user being deleted leaves each of its groups: each changes, with its event."""
    for group_id in sorted(tables.groups_of.pop(user_id, frozenset())):
        members = tables.members_of[group_id] - {user_id}
        tables.members_of[group_id] = members
        group = _moved(tables.groups[group_id], len(members), now)
        tables.groups[group_id] = group
        if event is not None:
            record(
                store,
                tables,
                ChangeKind.MEMBER_REMOVED,
                group_id,
                group.version,
                event,
                now,
                member_id=user_id,
            )


class InMemoryGroupRepository:
    def __init__(self, store: InMemoryStore, tables: Tables) -> None:
        self._store = store
        self._tables = tables

    async def get(self, group_id: int) -> Group | None:
        return self._tables.groups.get(group_id)

    async def page(self, query: GroupPageQuery) -> Sequence[Group]:
        groups = self._tables.groups
        if query.name is not None:
            found = self._tables.group_id_by_name_key.get(group_name_key(query.name))
            candidates = [groups[found]] if found is not None else []
        else:
            candidates = list(groups.values())
        ordered = sorted(candidates, key=lambda g: g.id, reverse=query.descending)
        if query.after_id is not None:
            after = query.after_id
            ordered = [g for g in ordered if (g.id < after if query.descending else g.id > after)]
        return ordered[: query.limit]

    async def insert(
        self,
        group: NewGroup,
        now: datetime,
        event: EventContext | None = None,
        kept_id: int | None = None,
        kept_times: tuple[datetime, datetime] | None = None,
    ) -> Group | None:
        key = group_name_key(group.name)
        taken_id = kept_id is not None and (
            kept_id in self._tables.groups or kept_id in self._tables.users
        )
        if taken_id or key in self._tables.group_id_by_name_key:
            return None
        if kept_id is not None:
            self._store.advance_ids(kept_id)
        created, updated = kept_times or (now, now)
        stored = Group(
            id=kept_id if kept_id is not None else self._store.next_id(),
            name=group.name,
            description=group.description,
            member_count=0,
            created_at=created,
            updated_at=updated,
        )
        self._tables.groups[stored.id] = stored
        self._tables.group_id_by_name_key[key] = stored.id
        self._tables.members_of[stored.id] = frozenset()
        if event is not None:
            self._record(ChangeKind.GROUP_CREATED, stored, event, now)
        return stored

    def _record(
        self,
        kind: ChangeKind,
        group: Group,
        event: EventContext,
        now: datetime,
        changed: tuple[str, ...] = (),
    ) -> None:
        record(
            self._store,
            self._tables,
            kind,
            group.id,
            group.version,
            event,
            now,
            group=group if kind is not ChangeKind.GROUP_DELETED else None,
            changed=changed,
        )

    async def update(
        self,
        group_id: int,
        changes: GroupChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> Group | None:
        current = self._tables.groups.get(group_id)
        if current is None or not changes.differs_from(current):
            return None
        if expected_versions is not None and current.version not in expected_versions:
            return None
        updated = changes.applied_to(current, now)
        if updated.name_key != current.name_key:
            owner = self._tables.group_id_by_name_key.get(updated.name_key)
            if owner is not None and owner != group_id:
                raise GroupNameTaken(updated.name.value)
            del self._tables.group_id_by_name_key[current.name_key]
            self._tables.group_id_by_name_key[updated.name_key] = group_id
        self._tables.groups[group_id] = updated
        if event is not None:
            changed = changed_group_fields(current, updated)
            self._record(ChangeKind.GROUP_UPDATED, updated, event, now, changed)
        return updated

    async def delete(
        self,
        group_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> bool:
        current = self._tables.groups.get(group_id)
        if current is None:
            return False
        if expected_versions is not None and current.version not in expected_versions:
            return False
        del self._tables.groups[group_id]
        del self._tables.group_id_by_name_key[current.name_key]
        for user_id in self._tables.members_of.pop(group_id, frozenset()):
            self._tables.groups_of[user_id] = self._tables.groups_of[user_id] - {group_id}
        if event is not None:
            self._record(ChangeKind.GROUP_DELETED, current, event, event.time_of_deletion())
        return True

    async def lock(self, group_id: int) -> Group | None:
        return self._tables.groups.get(group_id)  # a writer holds the store's write lock

    async def missing_users(self, user_ids: Collection[int]) -> set[int]:
        return {i for i in user_ids if i not in self._tables.users}

    async def change_members(
        self,
        group: Group,
        add: Sequence[int],
        remove: Sequence[int],
        now: datetime,
        event: EventContext | None = None,
    ) -> MembershipChange:
        tables = self._tables
        members = tables.members_of.get(group.id, frozenset())
        added = tuple(i for i in sorted(set(add)) if i not in members and i in tables.users)
        removed = tuple(i for i in sorted(set(remove)) if i in members)
        if not added and not removed:
            return MembershipChange((), (), tables.groups[group.id])
        members = (members | set(added)) - set(removed)
        tables.members_of[group.id] = members
        for user_id in added:
            tables.groups_of[user_id] = tables.groups_of.get(user_id, frozenset()) | {group.id}
        for user_id in removed:
            tables.groups_of[user_id] = tables.groups_of[user_id] - {group.id}
        changed = _moved(tables.groups[group.id], len(members), now)
        tables.groups[group.id] = changed
        if event is not None:
            for kind, ids in (
                (ChangeKind.MEMBER_ADDED, added),
                (ChangeKind.MEMBER_REMOVED, removed),
            ):
                for user_id in ids:
                    record(
                        self._store,
                        tables,
                        kind,
                        group.id,
                        changed.version,
                        event,
                        now,
                        member_id=user_id,
                    )
        return MembershipChange(added, removed, changed)

    async def members(
        self, group_id: int, after_id: int | None, limit: int
    ) -> Sequence[User] | None:
        if group_id not in self._tables.groups:
            return None
        ids = sorted(self._tables.members_of.get(group_id, frozenset()))
        if after_id is not None:
            ids = [i for i in ids if i > after_id]
        return [self._tables.users[i] for i in ids[:limit]]

    async def groups_of(
        self, user_id: int, after_id: int | None, limit: int
    ) -> Sequence[Group] | None:
        if user_id not in self._tables.users:
            return None
        ids = sorted(self._tables.groups_of.get(user_id, frozenset()))
        if after_id is not None:
            ids = [i for i in ids if i > after_id]
        return [self._tables.groups[i] for i in ids[:limit]]

    async def references(
        self, user_ids: Sequence[int], per_user: int
    ) -> dict[int, list[GroupReference]]:
        found: dict[int, list[GroupReference]] = {}
        for user_id in user_ids:
            ids = sorted(self._tables.groups_of.get(user_id, frozenset()))[:per_user]
            if ids:
                found[user_id] = [GroupReference(i, self._tables.groups[i].name.value) for i in ids]
        return found
