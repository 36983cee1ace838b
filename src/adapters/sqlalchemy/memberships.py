"""Membership writes shared by the users' and the groups' repositories: member events,
and a deleted user's leaving of its groups."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from users_service.adapters.sqlalchemy import group_statements as sql
from users_service.adapters.sqlalchemy.executors import Executor
from users_service.adapters.sqlalchemy.statements import POSTGRESQL
from users_service.application.events import ChangeKind, EventContext


async def record_member_events(
    run: Executor,
    kind: ChangeKind,
    changes: Sequence[tuple[int, int, int]],
    event: EventContext,
    now: datetime,
) -> None:
    """One `kind` event per (group id, group version, user id), in one statement on
    PostgreSQL and one multi-row INSERT elsewhere."""
    if not changes:
        return
    if run.dialect_name == POSTGRESQL:
        params: dict[str, Any] = {
            "kinds": [kind.value] * len(changes),
            "groups": [group_id for group_id, _, _ in changes],
            "versions": [version for _, version, _ in changes],
            "members": [user_id for _, _, user_id in changes],
            "traceparent": event.traceparent,
            "now": now,
        }
        await run.rowcount(sql.MEMBER_EVENTS, params)
        return
    rows = [
        {
            "e_event_id": str(uuid.uuid4()),
            "e_kind": kind.value,
            "e_group_id": group_id,
            "e_version": version,
            "e_member_id": user_id,
            "e_traceparent": event.traceparent,
            "e_now": now,
        }
        for group_id, version, user_id in changes
    ]
    await run.rows(sql.MEMBER_EVENT, rows)


async def leave_every_group(
    run: Executor, user_id: int, now: datetime, event: EventContext | None
) -> None:
    """A user being deleted (its row locked) leaves each of its groups: each group loses a
    member and moves to a new version, with a `member_removed` event."""
    dialect = run.dialect_name
    left = await run.rows(sql.leave_groups(dialect), {"user_id": user_id})
    if not left:
        return
    group_ids = sorted(row[0] for row in left)
    moved = await run.rows(sql.groups_lost_a_member(dialect), {"ids": group_ids, "now": now})
    if event is not None:
        changes = sorted((row[0], row[1], user_id) for row in moved)
        await record_member_events(run, ChangeKind.MEMBER_REMOVED, changes, event, now)
