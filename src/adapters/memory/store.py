from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime

from users_service.application.events import ChangeEvent
from users_service.application.idempotency_store import IdempotencyRecord
from users_service.domain.group import Group
from users_service.domain.user import User


@dataclass
class Tables:
    """One consistent state: users by id (in id order), the email-key index, the groups
    and their name-key index, the memberships both ways, and the idempotency records by
    (scope, key). Values are immutable or replaced, never mutated."""

    users: dict[int, User] = field(default_factory=dict)
    id_by_email_key: dict[str, int] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    # The outbox: events by position, and when each was published (None: pending).
    outbox: dict[int, tuple[ChangeEvent, datetime | None]] = field(default_factory=dict)
    groups: dict[int, Group] = field(default_factory=dict)
    group_id_by_name_key: dict[str, int] = field(default_factory=dict)
    members_of: dict[int, frozenset[int]] = field(default_factory=dict)  # group -> users
    groups_of: dict[int, frozenset[int]] = field(default_factory=dict)  # user -> groups

    def copy(self) -> Tables:
        return Tables(
            dict(self.users),
            dict(self.id_by_email_key),
            dict(self.idempotency),
            dict(self.outbox),
            dict(self.groups),
            dict(self.group_id_by_name_key),
            dict(self.members_of),
            dict(self.groups_of),
        )


class InMemoryStore:
    """The committed state shared by every unit of work of one process.

    Writers take `write_lock` for their whole transaction (like a database serialising
    conflicting writes) and publish a new `Tables` on commit; readers see the last
    committed state. Ids, users' and groups' alike, come from one sequence that rollbacks
    never rewind.
    """

    def __init__(self) -> None:
        self.committed = Tables()
        self.write_lock = asyncio.Lock()
        self._last_id = 0
        self._positions = itertools.count(1)

    def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def advance_ids(self, past: int) -> None:
        """Ids kept by an import: the sequence moves past them, never back."""
        self._last_id = max(self._last_id, past)

    def next_position(self) -> int:
        return next(self._positions)
