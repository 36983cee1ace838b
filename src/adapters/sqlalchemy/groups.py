"""Groups and memberships through a unit of work's executor."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from users_service.adapters.sqlalchemy import group_statements as sql
from users_service.adapters.sqlalchemy.errors import (
    is_foreign_key_violation,
    is_unique_violation,
)
from users_service.adapters.sqlalchemy.executors import Executor, Row
from users_service.adapters.sqlalchemy.memberships import record_member_events
from users_service.adapters.sqlalchemy.repository import to_user
from users_service.adapters.sqlalchemy.statements import ADVANCE_IDS, POSTGRESQL
from users_service.adapters.sqlalchemy.tables import GROUP_NAME_KEY_INDEX
from users_service.application.events import ChangeKind, EventContext
from users_service.application.group_repository import (
    GroupPageQuery,
    GroupReference,
    MembersVanished,
)
from users_service.domain.errors import GroupNameTaken
from users_service.domain.group import (
    Group,
    GroupChanges,
    MembershipChange,
    NewGroup,
    changed_group_fields,
)
from users_service.domain.user import User
from users_service.domain.values import Description, Name


def to_group(row: Row) -> Group:
    # Rows come from our own table: their values passed validation on the way in.
    return Group(
        id=row[0],
        name=Name(row[1]),
        description=Description(row[2]) if row[2] is not None else None,
        member_count=row[3],
        created_at=row[4],
        updated_at=row[5],
        version=row[6],
    )


class SqlAlchemyGroupRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor
        self._dialect = executor.dialect_name

    async def get(self, group_id: int) -> Group | None:
        rows = await self._run.rows(sql.GET_GROUP, {"group_id": group_id})
        return to_group(rows[0]) if rows else None

    async def page(self, query: GroupPageQuery) -> Sequence[Group]:
        statement = sql.group_page(
            self._dialect,
            descending=query.descending,
            after=query.after_id is not None,
            by_name=query.name is not None,
        )
        params: dict[str, Any] = {"limit": query.limit}
        if query.after_id is not None:
            params["after"] = query.after_id
        if query.name is not None:
            params["name"] = query.name
        return [to_group(row) for row in await self._run.rows(statement, params)]

    async def insert(
        self,
        group: NewGroup,
        now: datetime,
        event: EventContext | None = None,
        kept_id: int | None = None,
        kept_times: tuple[datetime, datetime] | None = None,
    ) -> Group | None:
        created, updated = kept_times or (now, now)
        params: dict[str, Any] = {
            "new_name": group.name.value,
            "new_description": group.description.value if group.description else None,
            "created": created,
            "updated": updated,
        }
        postgresql = self._dialect == POSTGRESQL
        if kept_id is not None:
            params["new_id"] = kept_id
        elif not postgresql:
            params["new_id"] = await self._next_sqlite_id()
        statement = sql.insert_group(self._dialect, kept_id=kept_id is not None)
        rows = await self._run.rows(statement, params)
        if not rows:
            return None
        if kept_id is not None:
            if postgresql:
                await self._run.rows(ADVANCE_IDS, {})
            else:
                await self._run.rowcount(sql.SQLITE_SEQUENCE_ROW, {})
                await self._run.rowcount(sql.SQLITE_ADVANCE_IDS, {"past": kept_id})
        stored = to_group(rows[0])
        if event is not None:
            await self._record(
                ChangeKind.GROUP_CREATED, stored.id, stored.version, event, now, stored
            )
        return stored

    async def _next_sqlite_id(self) -> int:
        await self._run.rowcount(sql.SQLITE_SEQUENCE_ROW, {})
        [(next_id,)] = await self._run.rows(sql.SQLITE_NEXT_ID, {})
        return int(next_id)

    async def _record(
        self,
        kind: ChangeKind,
        group_id: int,
        version: int,
        event: EventContext,
        now: datetime,
        snapshot: Group | None = None,
        changed: tuple[str, ...] = (),
    ) -> None:
        """The group's own event; `snapshot`: the group as the change left it (none for
        a delete)."""
        description = snapshot.description if snapshot is not None else None
        params = {
            "e_event_id": str(uuid.uuid4()),
            "e_kind": kind.value,
            "e_group_id": group_id,
            "e_version": version,
            "e_name": snapshot.name.value if snapshot is not None else None,
            "e_description": description.value if description is not None else None,
            "e_member_count": snapshot.member_count if snapshot is not None else None,
            "e_created": snapshot.created_at if snapshot is not None else None,
            "e_updated": snapshot.updated_at if snapshot is not None else None,
            "e_changed": ",".join(changed) if kind is ChangeKind.GROUP_UPDATED else None,
            "e_traceparent": event.traceparent,
            "e_now": now,
        }
        await self._run.rowcount(sql.INSERT_GROUP_EVENT, params)

    async def update(
        self,
        group_id: int,
        changes: GroupChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> Group | None:
        before = None
        if event is not None:  # what it held, locked: the event names what changed
            rows = await self._run.rows(sql.lock_group(self._dialect), {"group_id": group_id})
            if not rows:
                return None
            before = to_group(rows[0])
        statement = sql.update_group(
            self._dialect,
            name=changes.name is not None,
            description=changes.sets_description,
            guarded=expected_versions is not None,
        )
        params: dict[str, Any] = {"group_id": group_id, "now": now}
        if changes.name is not None:
            params["new_name"] = changes.name.value
        if changes.sets_description:
            params["new_description"] = (
                changes.description.value if changes.description is not None else None
            )
        if expected_versions is not None:
            params["versions"] = list(expected_versions)
        try:
            rows = await self._run.rows(statement, params)
        except Exception as exc:
            if changes.name is not None and is_unique_violation(exc, GROUP_NAME_KEY_INDEX):
                raise GroupNameTaken(changes.name.value) from exc
            raise
        if not rows:
            return None
        updated = to_group(rows[0])
        if event is not None and before is not None:
            changed = changed_group_fields(before, updated)
            await self._record(
                ChangeKind.GROUP_UPDATED, group_id, updated.version, event, now, updated, changed
            )
        return updated

    async def delete(
        self,
        group_id: int,
        expected_versions: Collection[int] | None = None,
        event: EventContext | None = None,
    ) -> bool:
        params: dict[str, Any] = {"group_id": group_id}
        if expected_versions is not None:
            params["versions"] = list(expected_versions)
        statement = sql.delete_group(self._dialect, guarded=expected_versions is not None)
        rows = await self._run.rows(statement, params)
        if not rows:
            return False
        if event is not None:
            now = event.time_of_deletion()
            await self._record(ChangeKind.GROUP_DELETED, group_id, rows[0][0], event, now)
        return True

    async def lock(self, group_id: int) -> Group | None:
        rows = await self._run.rows(sql.lock_group(self._dialect), {"group_id": group_id})
        return to_group(rows[0]) if rows else None

    async def missing_users(self, user_ids: Collection[int]) -> set[int]:
        wanted = set(user_ids)
        if not wanted:
            return set()
        rows = await self._run.rows(sql.existing_users(self._dialect), {"ids": sorted(wanted)})
        return wanted - {row[0] for row in rows}

    async def change_members(
        self,
        group: Group,
        add: Sequence[int],
        remove: Sequence[int],
        now: datetime,
        event: EventContext | None = None,
    ) -> MembershipChange:
        if self._dialect == POSTGRESQL:
            return await self._change_at_once(group, add, remove, now, event)
        params = {"group_id": group.id}
        added: list[int] = []
        removed: list[int] = []
        if add:
            try:
                rows = await self._run.rows(
                    sql.ADD_MEMBERS, {"member_of": group.id, "ids": sorted(set(add))}
                )
            except Exception as exc:
                if is_foreign_key_violation(exc):
                    raise MembersVanished from exc
                raise
            added = sorted(row[0] for row in rows)
        if remove:
            rows = await self._run.rows(sql.REMOVE_MEMBERS, {**params, "ids": sorted(set(remove))})
            removed = sorted(row[0] for row in rows)
        if not added and not removed:
            return MembershipChange((), (), group)
        rows = await self._run.rows(
            sql.MOVE_GROUP, {**params, "delta": len(added) - len(removed), "now": now}
        )
        moved = to_group(rows[0])
        if event is not None:
            for kind, ids in (
                (ChangeKind.MEMBER_ADDED, added),
                (ChangeKind.MEMBER_REMOVED, removed),
            ):
                changes = [(group.id, moved.version, user_id) for user_id in ids]
                await record_member_events(self._run, kind, changes, event, now)
        return MembershipChange(tuple(added), tuple(removed), moved)

    async def _change_at_once(
        self,
        group: Group,
        add: Sequence[int],
        remove: Sequence[int],
        now: datetime,
        event: EventContext | None,
    ) -> MembershipChange:
        params: dict[str, Any] = {
            "group_id": group.id,
            "member_of": group.id,
            "add": sorted(set(add)),
            "remove": sorted(set(remove)),
            "now": now,
        }
        if event is not None:
            params["traceparent"] = event.traceparent
        statement = sql.change_members_at_once(events=event is not None)
        try:
            rows = await self._run.rows(statement, params)
        except Exception as exc:
            if is_foreign_key_violation(exc):
                raise MembersVanished from exc
            raise
        if not rows:
            return MembershipChange((), (), group)
        row = rows[0]
        width = len(sql.GROUP_COLUMNS)
        added, removed = row[width] or [], row[width + 1] or []
        return MembershipChange(tuple(added), tuple(removed), to_group(row[:width]))

    async def members(
        self, group_id: int, after_id: int | None, limit: int
    ) -> Sequence[User] | None:
        params: dict[str, Any] = {"group_id": group_id, "limit": limit}
        if after_id is not None:
            params["after"] = after_id
        rows = await self._run.rows(sql.MEMBER_PAGE[after_id is not None], params)
        if not rows or rows[-1][0] != 0:
            return None  # no such group
        return [to_user(row[1:]) for row in rows[:-1]]

    async def groups_of(
        self, user_id: int, after_id: int | None, limit: int
    ) -> Sequence[Group] | None:
        params: dict[str, Any] = {"user_id": user_id, "limit": limit}
        if after_id is not None:
            params["after"] = after_id
        rows = await self._run.rows(sql.GROUPS_OF_USER[after_id is not None], params)
        if not rows or rows[-1][0] != 0:
            return None  # no such user
        return [to_group(row[1:]) for row in rows[:-1]]

    async def references(
        self, user_ids: Sequence[int], per_user: int
    ) -> dict[int, list[GroupReference]]:
        if not user_ids:
            return {}
        params = {"ids": list(user_ids), "per_user": per_user}
        found: dict[int, list[GroupReference]] = {}
        for user_id, group_id, name in await self._run.rows(
            sql.group_references(self._dialect), params
        ):
            found.setdefault(user_id, []).append(GroupReference(group_id, name))
        return found
