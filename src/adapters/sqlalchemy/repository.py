from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from users_service.adapters.sqlalchemy import statements
from users_service.adapters.sqlalchemy.errors import is_unique_violation
from users_service.adapters.sqlalchemy.executors import Executor, Row
from users_service.application.repository import PageQuery
from users_service.domain.errors import EmailAlreadyRegistered, EmailConflict
from users_service.domain.user import NewUser, User, UserChanges
from users_service.domain.values import Email, Name


def _to_user(row: Row) -> User:
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
        return _to_user(rows[0]) if rows else None

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
        return [_to_user(row) for row in await self._run.rows(statement, params)]

    async def insert_new(self, new_users: Sequence[NewUser], now: datetime) -> list[User | None]:
        statement = statements.insert_users(self._dialect)
        if self._dialect == statements.POSTGRESQL:
            params: Any = {
                "emails": [new.email.value for new in new_users],
                "names": [new.name.value for new in new_users],
                "now": now,
            }
        else:
            params = [
                {
                    "email": new.email.value,
                    "name": new.name.value,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for new in new_users
            ]
        rows = await self._run.rows(statement, params)
        # Conflicting rows were skipped, not raised. Returned rows are matched back by
        # their exact email text (unique among inserted rows); of several items with one
        # email, the first is the one stored.
        positions: defaultdict[str, list[int]] = defaultdict(list)
        for index, new in enumerate(new_users):
            positions[new.email.value].append(index)
        stored: list[User | None] = [None] * len(new_users)
        for row in rows:
            stored[positions[row[1]].pop(0)] = _to_user(row)
        return stored

    async def update(
        self,
        user_id: int,
        changes: UserChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
    ) -> User | None:
        statement = statements.update_user(
            self._dialect,
            email=changes.email is not None,
            name=changes.name is not None,
            guarded=expected_versions is not None,
        )
        params: dict[str, Any] = {"user_id": user_id, "now": now}
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
        return _to_user(rows[0]) if rows else None

    async def delete(self, user_id: int, expected_versions: Collection[int] | None = None) -> bool:
        statement = statements.delete_user(self._dialect, guarded=expected_versions is not None)
        params: dict[str, Any] = {"user_id": user_id}
        if expected_versions is not None:
            params["versions"] = list(expected_versions)
        return await self._run.rowcount(statement, params) > 0
