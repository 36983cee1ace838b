"""Change events: what the use cases ask to be recorded with each change, and what the
outbox holds until the relay has published it.

A use case that changes users passes an `EventContext` to the repository's write; the
repository writes the change and its event in one atomic step (one statement where it
can), so that no event exists for a change that did not commit and no committed change
lacks its event. `Outbox` is the relay's side: the pending events in commit order per
user, marked published once the broker has acknowledged them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from users_service.domain.user import User


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


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
class UserEvent:
    """One outbox entry. `position` orders the outbox; a user's events have increasing
    positions in commit order (a change waits for the previous one's row lock)."""

    position: int
    event_id: str
    kind: ChangeKind
    user_id: int
    version: int
    user: User | None  # the user as the change left it; None for a delete
    changed_fields: tuple[str, ...]
    occurred_at: datetime
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest: datetime | None


class Outbox(Protocol):
    """The outbox, inside one unit of work."""

    async def pending(self, limit: int) -> Sequence[UserEvent]:
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
