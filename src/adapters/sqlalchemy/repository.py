from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from adapters.sqlalchemy.tables import EMAIL_KEY_INDEX, users
from application.repository import PageQuery
from domain.errors import EmailAlreadyRegistered, EmailConflict
from domain.user import NewUser, User, UserChanges
from domain.values import Email, Name

# Statements are built once; SQLAlchemy caches their compiled form.
_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.created_at,
    users.c.updated_at,
    users.c.version,
)
_GET = select(*_COLUMNS).where(users.c.id == bindparam("id"))


def _insert_ignoring_conflicts(dialect_name: str) -> Insert:
    dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return dialect_insert(users).on_conflict_do_nothing().returning(*_COLUMNS)


_INSERTS = {name: _insert_ignoring_conflicts(name) for name in ("postgresql", "sqlite")}


def _to_user(row: Sequence[Any]) -> User:
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
    """Users over one `AsyncConnection` whose transaction the unit of work owns."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._insert = _INSERTS[connection.dialect.name]

    async def get(self, user_id: int) -> User | None:
        result = await self._connection.execute(_GET, {"id": user_id})
        row = result.first()
        return _to_user(row) if row is not None else None

    async def page(self, query: PageQuery) -> Sequence[User]:
        statement = select(*_COLUMNS)
        if query.after_id is not None:
            after = bindparam("after", query.after_id, type_=users.c.id.type)
            statement = statement.where(
                users.c.id < after if query.descending else users.c.id > after
            )
        if query.email_key is not None:
            statement = statement.where(func.lower(users.c.email) == query.email_key)
        if query.ids is not None:
            statement = statement.where(users.c.id.in_(query.ids))
        order = users.c.id.desc() if query.descending else users.c.id.asc()
        statement = statement.order_by(order).limit(query.limit)
        result = await self._connection.execute(statement)
        return [_to_user(row) for row in result]

    async def insert_new(self, new_users: Sequence[NewUser], now: datetime) -> list[User | None]:
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
        # A list of parameter sets runs as one multi-row INSERT per chunk
        # ("insertmanyvalues"); conflicting rows are skipped, not raised.
        result = await self._connection.execute(self._insert, params)
        # Returned rows are matched back by the exact email text, which is unique among
        # inserted rows; the first of several items with one email is the one stored.
        positions: defaultdict[str, list[int]] = defaultdict(list)
        for index, new in enumerate(new_users):
            positions[new.email.value].append(index)
        stored: list[User | None] = [None] * len(new_users)
        for row in result:
            stored[positions[row[1]].pop(0)] = _to_user(row)
        return stored

    async def update(
        self,
        user_id: int,
        changes: UserChanges,
        now: datetime,
        expected_versions: Collection[int] | None = None,
    ) -> User | None:
        values: dict[str, Any] = {"updated_at": now, "version": users.c.version + 1}
        differs: list[ColumnElement[bool]] = []
        if changes.email is not None:
            values["email"] = changes.email.value
            differs.append(users.c.email != changes.email.value)
        if changes.name is not None:
            values["name"] = changes.name.value
            differs.append(users.c.name != changes.name.value)
        statement = update(users).where(users.c.id == user_id, or_(*differs))
        if expected_versions is not None:
            statement = statement.where(users.c.version.in_(list(expected_versions)))
        statement = statement.values(values).returning(*_COLUMNS)
        try:
            result = await self._connection.execute(statement)
        except IntegrityError as exc:
            if changes.email is not None and EMAIL_KEY_INDEX in str(exc.orig):
                raise EmailAlreadyRegistered([EmailConflict(0, changes.email.value)]) from exc
            raise
        row = result.first()
        return _to_user(row) if row is not None else None

    async def delete(self, user_id: int, expected_versions: Collection[int] | None = None) -> bool:
        statement = delete(users).where(users.c.id == user_id)
        if expected_versions is not None:
            statement = statement.where(users.c.version.in_(list(expected_versions)))
        result = await self._connection.execute(statement)
        return bool(result.rowcount)
