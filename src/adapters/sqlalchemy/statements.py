"""Every statement the adapter runs, built once per shape with SQLAlchemy Core.

Statements use named bind parameters only (never inline values), so each shape is
compiled once and reused: by SQLAlchemy's compiled cache on the generic path, and by
`executors.DriverExecutor`'s own cache on the asyncpg path. Dialects differ only where
they must: a list of ids is `= ANY(:ids)` on PostgreSQL (one parameter, one cached plan)
and an expanding `IN` elsewhere; a batch insert is one `unnest` INSERT on PostgreSQL and
a multi-row VALUES ("insertmanyvalues") elsewhere.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import (
    Delete,
    Insert,
    Integer,
    Select,
    Update,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from users_service.adapters.sqlalchemy.tables import UTCDateTime, idempotency_keys, users

POSTGRESQL = "postgresql"

USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.created_at,
    users.c.updated_at,
    users.c.version,
)


def _any_of(column: ColumnElement[int], name: str, dialect: str) -> ColumnElement[bool]:
    if dialect == POSTGRESQL:
        return column == func.any(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


GET_USER = select(*USER_COLUMNS).where(users.c.id == bindparam("id"))


@cache
def user_page(
    dialect: str, *, descending: bool, after: bool, by_email: bool, by_ids: bool
) -> Select[tuple[int, str, str, object, object, int]]:
    statement = select(*USER_COLUMNS)
    if after:
        after_id = bindparam("after", type_=users.c.id.type)
        statement = statement.where(users.c.id < after_id if descending else users.c.id > after_id)
    if by_email:
        statement = statement.where(func.lower(users.c.email) == bindparam("email_key"))
    if by_ids:
        statement = statement.where(_any_of(users.c.id, "ids", dialect))
    order = users.c.id.desc() if descending else users.c.id.asc()
    return statement.order_by(order).limit(bindparam("limit", type_=Integer))


@cache
def insert_users(dialect: str) -> Insert:
    """Insert, skipping rows whose email is taken; RETURNING the stored rows.

    PostgreSQL: parameters `emails`, `names` (arrays) and `now`: one statement and one
    round trip for any number of rows. Elsewhere: one parameter set per row.
    """
    columns = ["email", "name", "created_at", "updated_at", "version"]
    if dialect == POSTGRESQL:
        now = bindparam("now", type_=UTCDateTime())
        rows = select(
            func.unnest(bindparam("emails", type_=postgresql.ARRAY(users.c.email.type))),
            func.unnest(bindparam("names", type_=postgresql.ARRAY(users.c.name.type))),
            now,
            now,
            literal_column("1"),
        )
        statement = postgresql.insert(users).from_select(columns, rows)
        return statement.on_conflict_do_nothing().returning(*USER_COLUMNS)
    return sqlite.insert(users).on_conflict_do_nothing().returning(*USER_COLUMNS)


@cache
def update_user(dialect: str, *, email: bool, name: bool, guarded: bool) -> Update:
    """Apply a merge patch and bump the version, only if it changes something (and, when
    `guarded`, only if the version is one of `versions`)."""
    values: dict[str, object] = {
        "updated_at": bindparam("now", type_=UTCDateTime()),
        "version": users.c.version + 1,
    }
    differs: list[ColumnElement[bool]] = []
    if email:
        values["email"] = bindparam("new_email", type_=users.c.email.type)
        differs.append(users.c.email != bindparam("new_email", type_=users.c.email.type))
    if name:
        values["name"] = bindparam("new_name", type_=users.c.name.type)
        differs.append(users.c.name != bindparam("new_name", type_=users.c.name.type))
    condition = and_(users.c.id == bindparam("user_id"), or_(*differs))
    if guarded:
        condition = and_(condition, _any_of(users.c.version, "versions", dialect))
    return update(users).where(condition).values(values).returning(*USER_COLUMNS)


@cache
def delete_user(dialect: str, *, guarded: bool) -> Delete:
    condition: ColumnElement[bool] = users.c.id == bindparam("user_id")
    if guarded:
        condition = and_(condition, _any_of(users.c.version, "versions", dialect))
    return delete(users).where(condition)


# ---- idempotency keys --------------------------------------------------------------------

# Bind names differ from column names: SQLAlchemy reserves those in INSERT and UPDATE.
_KEY = and_(
    idempotency_keys.c.scope == bindparam("k_scope"),
    idempotency_keys.c.key == bindparam("k_key"),
)


@cache
def claim_key(dialect: str) -> Insert:
    dialect_insert = postgresql.insert if dialect == POSTGRESQL else sqlite.insert
    statement = dialect_insert(idempotency_keys).values(
        scope=bindparam("k_scope"),
        key=bindparam("k_key"),
        fingerprint=bindparam("new_fingerprint"),
        started_at=bindparam("now", type_=UTCDateTime()),
        expires_at=bindparam("new_expires_at", type_=UTCDateTime()),
    )
    return statement.on_conflict_do_nothing().returning(idempotency_keys.c.key)


FIND_KEY = select(
    idempotency_keys.c.fingerprint,
    idempotency_keys.c.status,
    idempotency_keys.c.body,
    idempotency_keys.c.headers,
    idempotency_keys.c.started_at,
    idempotency_keys.c.expires_at,
).where(_KEY)

RESTART_KEY = (
    update(idempotency_keys)
    .where(
        _KEY,
        or_(
            idempotency_keys.c.expires_at <= bindparam("now", type_=UTCDateTime()),
            and_(
                idempotency_keys.c.status.is_(None),
                idempotency_keys.c.started_at < bindparam("stale_before", type_=UTCDateTime()),
            ),
        ),
    )
    .values(
        fingerprint=bindparam("new_fingerprint"),
        status=null(),
        body=null(),
        headers=null(),
        started_at=bindparam("now", type_=UTCDateTime()),
        expires_at=bindparam("new_expires_at", type_=UTCDateTime()),
    )
)

COMPLETE_KEY = (
    update(idempotency_keys)
    .where(_KEY)
    .values(
        status=bindparam("new_status"),
        body=bindparam("new_body"),
        headers=bindparam("new_headers"),
    )
)

RELEASE_KEY = delete(idempotency_keys).where(_KEY, idempotency_keys.c.status.is_(None))

PURGE_KEYS = delete(idempotency_keys).where(
    idempotency_keys.c.expires_at <= bindparam("now", type_=UTCDateTime())
)
