"""The Group entity and its memberships."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from users_service.domain.errors import InvalidValue, refuse_all
from users_service.domain.values import Description, Name

# At most this many user ids in one batch change of a group's members (`add` and `remove`).
MAX_MEMBER_CHANGES = 1000


@dataclass(frozen=True, slots=True)
class NewGroup:
    """A group that has passed validation but has no id yet: storage assigns it."""

    name: Name
    description: Description | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """A stored group. `member_count` is exact: storage changes it with the memberships.
    `version` grows by one on every change of what a group shows, its count included."""

    id: int
    name: Name
    description: Description | None
    member_count: int
    created_at: datetime
    updated_at: datetime
    version: int = 1

    @property
    def name_key(self) -> str:
        return group_name_key(self.name)


def group_name_key(name: Name | str) -> str:
    """The identity used for a name's uniqueness: two names that differ only in case are
    the same group's."""
    return str(name).lower()


@dataclass(frozen=True, slots=True)
class GroupChanges:
    """A merge patch: `name` None leaves it; `description` is changed only when
    `sets_description` (to None: cleared)."""

    name: Name | None = None
    description: Description | None = None
    sets_description: bool = False

    @property
    def empty(self) -> bool:
        return self.name is None and not self.sets_description

    def differs_from(self, group: Group) -> bool:
        return (self.name is not None and self.name != group.name) or (
            self.sets_description and self.description != group.description
        )

    def applied_to(self, group: Group, now: datetime) -> Group:
        return Group(
            id=group.id,
            name=self.name or group.name,
            description=self.description if self.sets_description else group.description,
            member_count=group.member_count,
            created_at=group.created_at,
            updated_at=now,
            version=group.version + 1,
        )


def changed_group_fields(before: Group, after: Group) -> tuple[str, ...]:
    """The fields a patch changed, in order (an `updated` event names them)."""
    return tuple(
        field
        for field, old, new in (
            ("name", before.name, after.name),
            ("description", before.description, after.description),
        )
        if old != new
    )


@dataclass(frozen=True, slots=True)
class MemberChanges:
    """A batch change of a group's members: distinct ids to add and to remove."""

    add: tuple[int, ...]
    remove: tuple[int, ...]

    @classmethod
    def parse(cls, add: Sequence[int], remove: Sequence[int]) -> MemberChanges:
        """1 to `MAX_MEMBER_CHANGES` ids in all; no id in both lists. Repeats inside one
        list count once."""
        problems: list[InvalidValue] = []
        total = len(add) + len(remove)
        if not 1 <= total <= MAX_MEMBER_CHANGES:
            problems.append(
                InvalidValue("members", f"must list 1 to {MAX_MEMBER_CHANGES} user ids in all")
            )
        both = set(add) & set(remove)
        for index, user_id in enumerate(remove):
            if user_id in both:
                problems.append(
                    InvalidValue(
                        "remove", f"user {user_id} is also in `add`", loc=("remove", index)
                    )
                )
        refuse_all(problems)
        return cls(tuple(dict.fromkeys(add)), tuple(dict.fromkeys(remove)))


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """What a change of members did: the ids really added and really removed, and the
    group as it left it (its version moved only if either is non-empty)."""

    added: tuple[int, ...]
    removed: tuple[int, ...]
    group: Group
