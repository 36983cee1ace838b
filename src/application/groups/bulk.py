"""Groups and memberships out of one consistent snapshot, and back in: a backup, a move,
a restore into an empty database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from users_service.application.access import GROUPS_READ, GROUPS_WRITE, Principal, require
from users_service.application.clock import Clock
from users_service.application.events import NO_EVENTS, EventPolicy
from users_service.application.group_repository import GroupPageQuery
from users_service.application.groups.writing import parse_new_group
from users_service.application.unit_of_work import UnitOfWorkFactory
from users_service.domain.group import MAX_MEMBER_CHANGES, Group

PAGE = 1000


@dataclass(frozen=True, slots=True)
class Members:
    """Some of a group's members: at most `PAGE` user ids, ascending."""

    group_id: int
    user_ids: tuple[int, ...]


class ExportGroups:
    """Every group in id order, each followed by its members in pages of ids, all read
    from one snapshot (a group changed mid-export appears as it was at the start)."""

    def __init__(self, uow: UnitOfWorkFactory, page: int = PAGE) -> None:
        self._uow = uow
        self._page = page

    async def __call__(self, actor: Principal) -> AsyncIterator[Group | Members]:
        require(actor, GROUPS_READ)
        async with self._uow(read_only=True, snapshot=True) as unit:
            after: int | None = None
            while True:
                groups = await unit.groups.page(GroupPageQuery(limit=self._page, after_id=after))
                for group in groups:
                    yield group
                    member_after: int | None = None
                    while True:
                        users = await unit.groups.members(group.id, member_after, self._page)
                        if not users:
                            break
                        yield Members(group.id, tuple(u.id for u in users))
                        if len(users) < self._page:
                            break
                        member_after = users[-1].id
                if len(groups) < self._page:
                    return
                after = groups[-1].id


@dataclass(frozen=True, slots=True)
class Restored:
    """What became of one imported group: its id here, and whether it was made now (or
    was there already, by id or by name: an import run again resumes)."""

    id: int
    created: bool


class ImportGroups:
    """Groups and their memberships from an export. A group that is there already (its
    kept id, or its name) is reused, so that a run can be repeated to resume; members are
    added by set, and user ids that are no user's are reported, never guessed."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, events: EventPolicy = NO_EVENTS
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events

    async def group(
        self,
        actor: Principal,
        name: str,
        description: str | None,
        *,
        kept_id: int | None = None,
        kept_times: tuple[datetime, datetime] | None = None,
    ) -> Restored:
        require(actor, GROUPS_WRITE)
        new = parse_new_group(name, description)
        async with self._uow() as uow:
            stored = await uow.groups.insert(
                new, self._clock.now(), self._events.context(), kept_id, kept_times
            )
            if stored is not None:
                await uow.commit()
                self._events.committed()
                return Restored(stored.id, True)
            found = await uow.groups.page(GroupPageQuery(limit=1, name=new.name.value))
        if found:
            return Restored(found[0].id, False)
        raise ValueError(f"group id {kept_id} belongs to another group or to a user")

    async def members(
        self,
        actor: Principal,
        group_id: int,
        user_ids: Sequence[int],
        *,
        kept_updated_at: datetime | None = None,
    ) -> tuple[int, set[int]]:
        """Adds the users; how many were added, and which ids are no user's. With
        `kept_updated_at`, the group keeps that `updated_at` (its version still moves)."""
        require(actor, GROUPS_WRITE)
        added, missing = 0, set()
        for start in range(0, len(user_ids), MAX_MEMBER_CHANGES):
            chunk = user_ids[start : start + MAX_MEMBER_CHANGES]
            async with self._uow() as uow:
                group = await uow.groups.lock(group_id)
                if group is None:
                    raise ValueError(f"group {group_id} vanished during the import")
                at = kept_updated_at or self._clock.now()
                result = await uow.groups.change_members(
                    group, chunk, (), at, self._events.context()
                )
                not_added = set(chunk) - set(result.added)
                missing |= await uow.groups.missing_users(not_added) if not_added else set()
                await uow.commit()
            added += len(result.added)
            if result.added:
                self._events.committed()
        return added, missing
