"""Change events: what the use cases ask to be recorded with each change, and what the
outbox holds until the relay has published it.

A use case that changes users or groups passes an `EventContext` to the repository's
write; the repository writes the change and its events in one atomic step (one statement
or one transaction), so that no event exists for a change that did not commit and no
committed change lacks its event. `Outbox` is the relay's side: the pending events in
commit order per user and per group, marked published once the broker has acknowledged
them. Users and groups draw their ids from one sequence, so an event's `subject_id` names
one user or one group, never both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from users_service.domain.group import Group
from users_service.domain.user import User


class ChangeKind(StrEnum):
    """What an event says happened. The first three are about a user; the rest about a
    group (`member_*`: one member, really added or removed)."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    GROUP_CREATED = "group_created"
    GROUP_UPDATED = "group_updated"
    GROUP_DELETED = "group_deleted"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"

    @property
    def about_group(self) -> bool:
        return self.value.startswith(("group_", "member_"))


@dataclass(frozen=True, slots=True)
class EventContext:
    """Asks a write to record its change's event; what the event carries besides the
    change itself (the W3C `traceparent` of the request that made it, if traced)."""

    traceparent: str | None = None
    # When the change happened, for a change that leaves no row to carry it (a deletion):
    # from the use case's clock.
    occurred_at: datetime | None = None

    def time_of_deletion(self) -> datetime:
        if self.occurred_at is None:
            raise ValueError("a deletion's event needs its time (EventContext.occurred_at)")
        return self.occurred_at


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """Whether the use cases record events (`EVENTS_ENABLED`), and where the active
    trace's `traceparent` comes from."""

    enabled: bool = True
    traceparent: Callable[[], str | None] = lambda: None
    # Called after a change and its event committed (an in-process relay polls at once).
    committed: Callable[[], None] = lambda: None

    def context(self, occurred_at: datetime | None = None) -> EventContext | None:
        return EventContext(self.traceparent(), occurred_at) if self.enabled else None


NO_EVENTS = EventPolicy(enabled=False)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One outbox entry. `position` orders the outbox; the events of one user or one group
    have increasing positions in commit order (a change waits for the previous one's row
    lock).

    `subject_id` is the user's id, or the group's for a group event; `version` is theirs as
    the change left them. `user` or `group` is the snapshot the change left (None for a
    delete or a member event); `member_id` is the user a member event is about.
    """

    position: int
    event_id: str
    kind: ChangeKind
    subject_id: int
    version: int
    user: User | None
    changed_fields: tuple[str, ...]
    occurred_at: datetime
    traceparent: str | None
    group: Group | None = None
    member_id: int | None = None


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest: datetime | None


class Outbox(Protocol):
    """The outbox, inside one unit of work."""

    async def pending(self, limit: int) -> Sequence[ChangeEvent]:
        """The oldest unpublished events, at most `limit`, in position order."""
        ...

    async def mark_published(self, positions: Sequence[int], now: datetime) -> None: ...

    async def purge(self, published_before: datetime) -> int:
        """Delete events published before the given time; how many."""
        ...

    async def backlog(self) -> Backlog: ...

    async def try_lead(self) -> bool:
        """Whether this unit of work may publish: only one relay at a time does, until
        its unit of work ends (a transaction-scoped lock on PostgreSQL)."""
        ...
