"""Read groups, a group's members, a user's groups, and users with their groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from users_service.application.access import (
    GROUPS_READ,
    READ,
    InsufficientScope,
    Principal,
    require,
)
from users_service.application.group_repository import (
    GROUPS_SHOWN_PER_USER,
    GroupPageQuery,
    GroupReference,
)
from users_service.application.unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    read_preferring_replica,
)
from users_service.domain.errors import GroupNotFound, InvalidValue, UserNotFound
from users_service.domain.group import Group
from users_service.domain.user import User
from users_service.domain.values import Name

MAX_PAGE_SIZE = 200
Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: Sequence[Item]
    next_after_id: int | None
    """Where the next page starts, or None on the last page."""


def _paged(rows: Sequence[Item], limit: int, key: int | None) -> Page[Item]:
    if len(rows) > limit:
        return Page(rows[:limit], key)
    return Page(rows, None)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidValue("limit", f"must be between 1 and {MAX_PAGE_SIZE}")


def _may_read_groups_of(actor: Principal, user_id: int) -> bool:
    return GROUPS_READ in actor.scopes or actor.is_user(user_id)


class GetGroup:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, actor: Principal, group_id: int, *, fresh: bool = False) -> Group:
        require(actor, GROUPS_READ)

        async def read(uow: UnitOfWork) -> Group | None:
            return await uow.groups.get(group_id)

        group = await read_preferring_replica(
            self._uow, read, fresh=fresh, found=lambda found: found is not None
        )
        if group is None:
            raise GroupNotFound(group_id)
        return group


class ListGroups:
    """A keyset page of groups, optionally the one with a name (case-insensitively)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        actor: Principal,
        *,
        limit: int = 50,
        after_id: int | None = None,
        descending: bool = False,
        name: str | None = None,
        fresh: bool = False,
    ) -> Page[Group]:
        require(actor, GROUPS_READ)
        _check_limit(limit)
        query = GroupPageQuery(
            limit=limit + 1,  # one extra row tells whether another page follows
            after_id=after_id,
            descending=descending,
            name=Name.parse(name).value if name is not None else None,
        )

        async def read(uow: UnitOfWork) -> Sequence[Group]:
            return await uow.groups.page(query)

        rows = await read_preferring_replica(self._uow, read, fresh=fresh, found=lambda _: True)
        return _paged(rows, limit, rows[limit - 1].id if len(rows) > limit else None)


class ListMembers:
    """A page of a group's members, by ascending user id: one statement on the
    membership's primary key, whatever the group's size (it also tells an empty group
    from a missing one)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        actor: Principal,
        group_id: int,
        *,
        limit: int = 50,
        after_id: int | None = None,
        fresh: bool = False,
    ) -> Page[User]:
        require(actor, GROUPS_READ)
        require(actor, READ)
        _check_limit(limit)

        async def read(uow: UnitOfWork) -> Sequence[User] | None:
            return await uow.groups.members(group_id, after_id, limit + 1)

        rows = await read_preferring_replica(
            self._uow, read, fresh=fresh, found=lambda found: found is not None
        )
        if rows is None:
            raise GroupNotFound(group_id)
        return _paged(rows, limit, rows[limit - 1].id if len(rows) > limit else None)


class ListUserGroups:
    """A page of a user's groups, by ascending group id. A self-service caller reads its
    own; anyone else's answer "not found", as for users."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        actor: Principal,
        user_id: int,
        *,
        limit: int = 50,
        after_id: int | None = None,
        fresh: bool = False,
    ) -> Page[Group]:
        if not _may_read_groups_of(actor, user_id):
            if actor.can_read:  # it may read the user, not its groups
                raise InsufficientScope(GROUPS_READ)
            raise UserNotFound(user_id)
        _check_limit(limit)

        async def read(uow: UnitOfWork) -> Sequence[Group] | None:
            return await uow.groups.groups_of(user_id, after_id, limit + 1)

        rows = await read_preferring_replica(
            self._uow, read, fresh=fresh, found=lambda found: found is not None
        )
        if rows is None:
            raise UserNotFound(user_id)
        return _paged(rows, limit, rows[limit - 1].id if len(rows) > limit else None)


@dataclass(frozen=True, slots=True)
class UserGroups:
    """A user's first groups by id, and whether they are all of them."""

    groups: Sequence[GroupReference]
    complete: bool


class ExpandGroups:
    """The groups of every user of a page, in one statement however many users and
    groups there are (the selectin pattern: the page first, then all its memberships)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    @staticmethod
    def authorize(actor: Principal, user_id: int | None = None) -> None:
        """Before reading the users: `groups:read`, or the caller's own user (`user_id`,
        a single user read). Raises InsufficientScope."""
        if not (GROUPS_READ in actor.scopes or (user_id is not None and actor.is_user(user_id))):
            raise InsufficientScope(GROUPS_READ)

    async def __call__(
        self, actor: Principal, users: Sequence[User], *, fresh: bool = False
    ) -> dict[int, UserGroups]:
        if not all(_may_read_groups_of(actor, user.id) for user in users):
            raise InsufficientScope(GROUPS_READ)
        ids = [user.id for user in users]
        if not ids:
            return {}

        async def read(uow: UnitOfWork) -> dict[int, list[GroupReference]]:
            return await uow.groups.references(ids, GROUPS_SHOWN_PER_USER + 1)

        found = await read_preferring_replica(self._uow, read, fresh=fresh, found=lambda _: True)
        expanded: dict[int, UserGroups] = {}
        for user_id in ids:
            references = found.get(user_id, [])
            expanded[user_id] = UserGroups(
                references[:GROUPS_SHOWN_PER_USER], len(references) <= GROUPS_SHOWN_PER_USER
            )
        return expanded
