from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from users_service.application.events import EventContext
from users_service.domain.user import NewUser, User, UserChanges


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A keyset page: rows after `after_id` in id order (descending when asked).

    `email_key` filters on the case-insensitive email identity; `ids` on a set of ids.
    """

    limit: int
    after_id: int | None = None
    descending: bool = False
    email_key: str | None = None
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Kept:
    """What an import keeps of an exported user instead of what storage would assign:
    its id (`--keep-ids`) and its timestamps (`--keep-timestamps`), each or both."""

    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class UserRepository(Protocol):
    """The users collection, inside one unit of work. It never commits.

    Email uniqueness is the storage's job (a unique index), never a check-then-insert.
    """

    async def get(self, user_id: int) -> User | None: ...

    async def page(self, query: PageQuery) -> Sequence[User]:
        """At most `query.limit` users, in keyset order."""
        ...

    async def insert_new(
        self,
        users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[User | None]:
        """Store every user whose email is free, in one round trip per chunk.

        Position i of the result holds the stored user, or None when its email was
        already taken, by a stored user or by an earlier item of `users` (or, with kept
        ids, when its id was). With `event`, each stored user's `created` event is
        written in the same atomic step. `kept[i]`, when given, holds what user i keeps
        (ids for all of them or none); ids kept move the id sequence past them.
        """
        ...

    async def insert_imported(
        self,
        users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[bool]:
        """`insert_new` for a bulk import: only whether each user was stored (making the
        stored users, which an import does not need, would cost it a third of its time)."""
        ...

    async def update(
        self,
        user_id: int,
        changes: UserChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> User | None:
        """Apply `changes` and bump the version, in one conditional statement.

        Returns None, changing nothing, when the user is missing, when its version is
        not among `expected_versions` (if given) or when the patch changes nothing.
        Raises EmailAlreadyRegistered when the new email belongs to another user. With
        `event`, the `updated` event (naming the fields that changed) goes with it.
        """
        ...

    async def delete(
        self,
        user_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
        *,
        now: datetime,
    ) -> bool:
        """Delete the user and its memberships; False when nothing matched. Each group it
        leaves changes at `now` (`member_count`, `version`). With `event`, the `deleted`
        event (the user's id and last version) goes with it, and a `member_removed` event
        for each group it leaves."""
        ...
