"""The groups collection and its memberships: the port the group use cases depend on."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from users_service.application.events import EventContext
from users_service.domain.group import Group, GroupChanges, MembershipChange, NewGroup
from users_service.domain.user import User

# A user's `groups` when it is read with `expand=groups`: its first groups by id.
GROUPS_SHOWN_PER_USER = 100


@dataclass(frozen=True, slots=True)
class GroupPageQuery:
    """A keyset page of groups; `name` keeps the group of that name, compared as the
    unique index compares names (case-insensitively, by the storage's own `lower`)."""

    limit: int
    after_id: int | None = None
    descending: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GroupReference:
    """A group as a user's `groups` list names it."""

    id: int
    name: str


class MembersVanished(Exception):
    """A user being added was deleted meanwhile (the membership's foreign key refused
    it): the unit of work is spoilt, and the caller finds out which user it was."""


class GroupRepository(Protocol):
    """Groups and memberships, inside one unit of work. It never commits.

    Names are unique case-insensitively: storage's unique index decides, never a check.
    A group's members are never loaded to change them, and `member_count` changes in the
    same unit of work as the memberships: exact under any concurrency.
    """

    async def get(self, group_id: int) -> Group | None: ...

    async def page(self, query: GroupPageQuery) -> Sequence[Group]:
        """At most `query.limit` groups, in keyset order."""
        ...

    async def insert(
        self,
        group: NewGroup,
        now: datetime,
        event: EventContext | None = None,
        kept_id: int | None = None,
        kept_times: tuple[datetime, datetime] | None = None,
    ) -> Group | None:
        """Store the group, with an id from the users' own sequence (or `kept_id`, moving
        the sequence past it); None when its name (or kept id) is taken. With `event`, its
        `group_created` event goes with it."""
        ...

    async def update(
        self,
        group_id: int,
        changes: GroupChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> Group | None:
        """Apply `changes` and bump the version, in one conditional write; None, changing
        nothing, when the group is missing, its version is not expected or the patch
        changes nothing. Raises GroupNameTaken."""
        ...

    async def delete(
        self,
        group_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> bool:
        """Delete the group and its memberships (its members stay); False when nothing
        matched. With `event`, its `group_deleted` event (id and last version)."""
        ...

    async def lock(self, group_id: int) -> Group | None:
        """The group, locked against other member changes until the unit of work ends."""
        ...

    async def missing_users(self, user_ids: Collection[int]) -> set[int]:
        """Which of `user_ids` are no user's id."""
        ...

    async def change_members(
        self,
        group: Group,
        add: Sequence[int],
        remove: Sequence[int],
        now: datetime,
        event: EventContext | None = None,
    ) -> MembershipChange:
        """Add and remove members of a locked group, with set-based statements: users
        already members are not added again, non-members are not removed. When anything
        changed, the group's `member_count` and `version` move once, and each member
        really added or removed has its event. Raises MembersVanished."""
        ...

    async def members(self, group_id: int, after_id: int | None, limit: int) -> Sequence[User]:
        """At most `limit` of the group's members, by ascending id after `after_id`."""
        ...

    async def groups_of(self, user_id: int, after_id: int | None, limit: int) -> Sequence[Group]:
        """At most `limit` of the user's groups, by ascending id after `after_id`."""
        ...

    async def references(
        self, user_ids: Sequence[int], per_user: int
    ) -> dict[int, list[GroupReference]]:
        """For each of `user_ids` that has groups, its first `per_user` groups by id, in
        one statement however many users and groups there are."""
        ...
