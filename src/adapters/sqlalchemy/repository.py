from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from users_service.adapters.sqlalchemy import group_statements, statements
from users_service.adapters.sqlalchemy.errors import is_unique_violation
from users_service.adapters.sqlalchemy.executors import Executor, Row
from users_service.adapters.sqlalchemy.memberships import leave_every_group
from users_service.application.events import ChangeKind, EventContext
from users_service.application.repository import Kept, PageQuery
from users_service.domain.errors import EmailAlreadyRegistered, EmailConflict
from users_service.domain.user import NewUser, User, UserChanges, changed_fields
from users_service.domain.values import Email, Name


def to_user(row: Row) -> User:
    # Rows come from our own table: their values passed validation on the way in.
    return User(
        id=row[0],
        email=Email(row[1]),
        name=Name(row[2]),
        created_at=row[3],
        updated_at=row[4],
        version=row[5],
    )


class SqlAlchemyUserRepository:
    """Users through an executor bound to the unit of work's connection and transaction."""

    def __init__(self, executor: Executor) -> None:
        self._run = executor
        self._dialect = executor.dialect_name

    async def get(self, user_id: int) -> User | None:
        rows = await self._run.rows(statements.GET_USER, {"id": user_id})
        return to_user(rows[0]) if rows else None

    async def page(self, query: PageQuery) -> Sequence[User]:
        statement = statements.user_page(
            self._dialect,
            descending=query.descending,
            after=query.after_id is not None,
            by_email=query.email_key is not None,
            by_ids=query.ids is not None,
        )
        params: dict[str, Any] = {"limit": query.limit}
        if query.after_id is not None:
            params["after"] = query.after_id
        if query.email_key is not None:
            params["email_key"] = query.email_key
        if query.ids is not None:
            params["ids"] = list(query.ids)
        return [to_user(row) for row in await self._run.rows(statement, params)]

    async def insert_new(
        self,
        new_users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[User | None]:
        rows = await self._insert(new_users, now, event, kept)
        return [to_user(row) if row is not None else None for row in rows]

    async def insert_imported(
        self,
        new_users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None = None,
        kept: Sequence[Kept] | None = None,
    ) -> list[bool]:
        return [row is not None for row in await self._insert(new_users, now, event, kept)]

    async def _insert(
        self,
        new_users: Sequence[NewUser],
        now: datetime,
        event: EventContext | None,
        kept: Sequence[Kept] | None,
    ) -> list[Row | None]:
        """The stored rows, matched to `new_users` (None: skipped as a conflict)."""
        statement: Any = statements.insert_users(self._dialect)
        postgresql = self._dialect == statements.POSTGRESQL
        keeps_ids = kept is not None and any(k.id is not None for k in kept)
        if postgresql:
            params: Any = {
                "emails": [new.email.value for new in new_users],
                "names": [new.name.value for new in new_users],
                "now": now,
            }
            if kept is not None:
                statement = statements.insert_kept_users(ids=keeps_ids, events=event is not None)
                params["created"] = [k.created_at or now for k in kept]
                params["updated"] = [k.updated_at or k.created_at or now for k in kept]
                if keeps_ids:
                    params["ids"] = [k.id for k in kept]
            elif event is not None:
                statement = statements.insert_users_with_events()
            if event is not None:
                params["traceparent"] = event.traceparent
        else:
            params = []
            for index, new in enumerate(new_users):
                keep = kept[index] if kept is not None else Kept()
                values: dict[str, object] = {
                    "email": new.email.value,
                    "name": new.name.value,
                    "created_at": keep.created_at or now,
                    "updated_at": keep.updated_at or keep.created_at or now,
                    "version": 1,
                }
                if keeps_ids:  # SQLite's AUTOINCREMENT moves past them by itself
                    values["id"] = keep.id
                params.append(values)
        rows = await self._run.rows(statement, params)
        # Conflicting rows were skipped, not raised. Returned rows are matched back by
        # their exact email text (unique among inserted rows); of several items with one
        # email, the first is the one stored.
        positions: defaultdict[str, list[int]] = defaultdict(list)
        for index, new in enumerate(new_users):
            positions[new.email.value].append(index)
        stored: list[Row | None] = [None] * len(new_users)
        for row in rows:
            stored[positions[row[1]].pop(0)] = row
        if keeps_ids and postgresql:
            await self._run.rows(statements.ADVANCE_IDS, {})
        if event is not None and not postgresql:
            await self._record(
                [_event_row(ChangeKind.CREATED, to_user(row), event, at=now) for row in rows]
            )
        return stored

    async def update(
        self,
        user_id: int,
        changes: UserChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> User | None:
        shape = {
            "email": changes.email is not None,
            "name": changes.name is not None,
            "guarded": expected_versions is not None,
        }
        statement: Any = statements.update_user(self._dialect, **shape)
        params: dict[str, Any] = {"user_id": user_id, "now": now}
        before = None
        if event is not None:
            if self._dialect == statements.POSTGRESQL:
                statement = statements.update_user_with_event(**shape)
                params["traceparent"] = event.traceparent
            else:  # the transaction holds SQLite's write lock: `before` stays current
                before = await self.get(user_id)
        if changes.email is not None:
            params["new_email"] = changes.email.value
        if changes.name is not None:
            params["new_name"] = changes.name.value
        if expected_versions is not None:
            params["versions"] = list(expected_versions)
        try:
            rows = await self._run.rows(statement, params)
        except Exception as exc:
            if changes.email is not None and is_unique_violation(exc):
                raise EmailAlreadyRegistered([EmailConflict(0, changes.email.value)]) from exc
            raise
        if not rows:
            return None
        updated = to_user(rows[0])
        if event is not None and before is not None:
            changed = changed_fields(before, updated)
            await self._record([_event_row(ChangeKind.UPDATED, updated, event, changed)])
        return updated

    async def delete(
        self,
        user_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
        *,
        now: datetime,
    ) -> bool:
        # Its groups' rows first, in id order, as every change of members locks its group
        # before touching memberships (so the two never wait on each other in a circle);
        # then the user's row: a membership being added to it now waits (its foreign key
        # check), then fails, and every committed membership is seen and leaves, each of
        # its groups' counts with it.
        if self._dialect == statements.POSTGRESQL:
            await self._run.rows(group_statements.LOCK_GROUPS_OF_USER, {"user_id": user_id})
        lock = group_statements.lock_user(self._dialect)
        locked = await self._run.rows(lock, {"user_id": user_id})
        if not locked or (expected_versions is not None and locked[0][0] not in expected_versions):
            return False
        await leave_every_group(self._run, user_id, now, event)
        guarded = expected_versions is not None
        params: dict[str, Any] = {"user_id": user_id}
        if expected_versions is not None:
            params["versions"] = list(expected_versions)
        if event is None:
            plain = statements.delete_user(self._dialect, guarded=guarded)
            return await self._run.rowcount(plain, params) > 0
        if self._dialect == statements.POSTGRESQL:
            params["traceparent"] = event.traceparent
            params["now"] = event.time_of_deletion()
            statement_with_event = statements.delete_user_with_event(guarded=guarded)
            return bool(await self._run.rows(statement_with_event, params))
        statement = statements.delete_user_returning_version(self._dialect, guarded=guarded)
        rows = await self._run.rows(statement, params)
        if not rows:
            return False
        await self._record(
            [
                {
                    **_event_row(ChangeKind.DELETED, None, event),
                    "user_id": user_id,
                    "version": rows[0][0],
                    "occurred_at": event.time_of_deletion(),
                }
            ]
        )
        return True

    async def _record(self, events: list[dict[str, Any]]) -> None:
        if events:
            await self._run.rows(statements.INSERT_EVENTS, events)


def _event_row(
    kind: ChangeKind,
    user: User | None,
    event: EventContext,
    changed: tuple[str, ...] = (),
    at: datetime | None = None,
) -> dict[str, Any]:
    """An outbox row where the database cannot write it in the change's statement."""
    row: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "kind": kind.value,
        "changed_fields": ",".join(changed) if kind is ChangeKind.UPDATED else None,
        "traceparent": event.traceparent,
    }
    if user is not None:
        row |= {
            "user_id": user.id,
            "version": user.version,
            "email": user.email.value,
            "name": user.name.value,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
            "occurred_at": at or user.updated_at,
        }
    return row
