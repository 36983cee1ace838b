"""The outbox through a unit of work's executor: what the relay reads and marks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from users_service.adapters.sqlalchemy import statements
from users_service.adapters.sqlalchemy.executors import Executor, Row
from users_service.application.events import Backlog, ChangeEvent, ChangeKind
from users_service.domain.group import Group
from users_service.domain.user import User
from users_service.domain.values import Description, Email, Name

_KINDS = {kind.value: kind for kind in ChangeKind}  # a dict look-up: 4 times an Enum call


_GROUP_SNAPSHOTS = frozenset({ChangeKind.GROUP_CREATED, ChangeKind.GROUP_UPDATED})


def _to_event(row: Row) -> ChangeEvent:
    kind = _KINDS[row[2]]
    user = group = None
    if kind in _GROUP_SNAPSHOTS:
        group = Group(
            id=row[3],
            name=Name(row[6]),
            description=Description(row[12]) if row[12] is not None else None,
            member_count=row[13],
            created_at=row[7],
            updated_at=row[8],
            version=row[4],
        )
    elif kind in (ChangeKind.CREATED, ChangeKind.UPDATED):
        user = User(
            id=row[3],
            email=Email(row[5]),
            name=Name(row[6]),
            created_at=row[7],
            updated_at=row[8],
            version=row[4],
        )
    return ChangeEvent(
        position=row[0],
        event_id=row[1],
        kind=kind,
        subject_id=row[3],
        version=row[4],
        user=user,
        changed_fields=tuple(row[9].split(",")) if row[9] else (),
        occurred_at=row[11],
        traceparent=row[10],
        group=group,
        member_id=row[14],
    )


class SqlAlchemyOutbox:
    def __init__(self, executor: Executor) -> None:
        self._run = executor
        self._dialect = executor.dialect_name

    async def pending(self, limit: int) -> Sequence[ChangeEvent]:
        rows = await self._run.rows(statements.PENDING_EVENTS, {"limit": limit})
        return [_to_event(row) for row in rows]

    async def mark_published(self, positions: Sequence[int], now: datetime) -> None:
        if positions:
            statement = statements.mark_published(self._dialect)
            await self._run.rowcount(statement, {"positions": list(positions), "now": now})

    async def purge(self, published_before: datetime) -> int:
        return await self._run.rowcount(statements.PURGE_EVENTS, {"before": published_before})

    async def backlog(self) -> Backlog:
        [(count, oldest)] = await self._run.rows(statements.BACKLOG, {})
        return Backlog(int(count), oldest)

    async def try_lead(self) -> bool:
        if self._dialect != statements.POSTGRESQL:
            return True  # SQLite: the relay's transaction holds the database's write lock
        [(locked,)] = await self._run.rows(statements.TRY_LEAD, {})
        return bool(locked)
