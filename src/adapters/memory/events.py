"""Outbox entries written by the in-memory repositories."""

from __future__ import annotations

import uuid
from datetime import datetime

from users_service.adapters.memory.store import InMemoryStore, Tables
from users_service.application.events import ChangeEvent, ChangeKind, EventContext
from users_service.domain.group import Group
from users_service.domain.user import User


def record(
    store: InMemoryStore,
    tables: Tables,
    kind: ChangeKind,
    subject_id: int,
    version: int,
    event: EventContext,
    occurred_at: datetime,
    *,
    user: User | None = None,
    group: Group | None = None,
    member_id: int | None = None,
    changed: tuple[str, ...] = (),
) -> None:
    position = store.next_position()
    tables.outbox[position] = (
        ChangeEvent(
            position=position,
            event_id=str(uuid.uuid4()),
            kind=kind,
            subject_id=subject_id,
            version=version,
            user=user,
            changed_fields=changed,
            occurred_at=occurred_at,
            traceparent=event.traceparent,
            group=group,
            member_id=member_id,
        ),
        None,
    )
