"""Every statement the adapter runs, built once per shape with SQLAlchemy Core.

Statements use named bind parameters only (never inline values), so each shape is
compiled once and reused: on PostgreSQL by `compiled.StatementCache` (the driver runs the
compiled SQL), on SQLite by SQLAlchemy's own compiled cache. Dialects differ only where
they must: a list of ids is `= ANY(:ids)` on PostgreSQL (one parameter, one cached plan)
and an expanding `IN` elsewhere; a batch insert is one `unnest` INSERT on PostgreSQL and
a multi-row VALUES ("insertmanyvalues") elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Delete,
    Insert,
    Integer,
    Select,
    String,
    Update,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert
from sqlalchemy.sql.elements import ColumnElement

from users_service.adapters.sqlalchemy.tables import (
    UTCDateTime,
    groups,
    idempotency_keys,
    outbox,
    users,
)

POSTGRESQL = "postgresql"

USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.created_at,
    users.c.updated_at,
    users.c.version,
)


def any_of(column: ColumnElement[int], name: str, dialect: str) -> ColumnElement[bool]:
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
        statement = statement.where(any_of(users.c.id, "ids", dialect))
    order = users.c.id.desc() if descending else users.c.id.asc()
    return statement.order_by(order).limit(bindparam("limit", type_=Integer))


def _insert_users(dialect: str) -> Insert:
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


def _update_user(dialect: str, *, email: bool, name: bool, guarded: bool) -> Update:
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
        condition = and_(condition, any_of(users.c.version, "versions", dialect))
    return update(users).where(condition).values(values).returning(*USER_COLUMNS)


def _delete_user(dialect: str, *, guarded: bool) -> Delete:
    condition: ColumnElement[bool] = users.c.id == bindparam("user_id")
    if guarded:
        condition = and_(condition, any_of(users.c.version, "versions", dialect))
    return delete(users).where(condition)


# Built once per shape for running them. A statement derived from one (a CTE of it, more
# RETURNING columns) is built from a fresh copy: once a statement has been compiled its
# exported columns are memoised, and a derived copy would keep that stale memo.
insert_users = cache(_insert_users)
update_user = cache(_update_user)
delete_user = cache(_delete_user)


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


# ---- change events (the outbox) ----------------------------------------------------------
#
# On PostgreSQL each write and its event are one statement: the write is a data-modifying
# CTE whose RETURNING rows feed an INSERT into the outbox, so a single create stays one
# round trip with no BEGIN/COMMIT, and neither can land without the other. Metrics and
# spans name such a statement by its write (`operation_name`), as they name the bare one.
# SQLite has no data-modifying CTEs: there the repository writes the event in the same
# transaction.

_EVENT_COLUMNS = [
    "event_id",
    "kind",
    "user_id",
    "version",
    "email",
    "name",
    "created_at",
    "updated_at",
    "changed_fields",
    "traceparent",
    "occurred_at",
]


def _traceparent() -> ColumnElement[str]:
    return bindparam("traceparent", type_=outbox.c.traceparent.type)


def _new_event_id() -> ColumnElement[str]:
    return cast(func.gen_random_uuid(), String)


def _events_of(
    kind: str,
    written: Any,
    changed: ColumnElement[Any],
    occurred_at: ColumnElement[Any],
) -> Any:
    """The `events` CTE: one `kind` event for each user row the `written` CTE returns."""
    return (
        insert(outbox)
        .from_select(
            _EVENT_COLUMNS,
            select(
                _new_event_id(),
                literal(kind),
                written.c.id,
                written.c.version,
                written.c.email,
                written.c.name,
                written.c.created_at,
                written.c.updated_at,
                changed,
                _traceparent(),
                occurred_at,
            ),
        )
        .cte("events")
    )


def _with_created_events(
    insert_statement: Insert | ReturningInsert[Any],
    occurred_at: Callable[[Any], ColumnElement[Any]],
) -> Select[tuple[int, str, str, object, object, int]]:
    """PostgreSQL: `insert_statement`, and a `created` event for each stored user."""
    inserted = insert_statement.cte("inserted")
    events = _events_of("created", inserted, null(), occurred_at(inserted.c))
    statement = select(*inserted.c).add_cte(events)
    return statement.execution_options(operation_name="INSERT users")


@cache
def insert_users_with_events() -> Select[tuple[int, str, str, object, object, int]]:
    """PostgreSQL: `insert_users`, and a `created` event for each stored user."""
    return _with_created_events(_insert_users(POSTGRESQL), lambda c: c.created_at)


@cache
def insert_kept_users(*, ids: bool, events: bool) -> Executable:
    """PostgreSQL, an import keeping timestamps (arrays `created`, `updated`) and, with
    `ids`, ids (array `ids`): as `insert_users`, skipping any row whose email or id is
    taken. With `events`, their `created` events too, at the import's time (`now`)."""
    timestamps = postgresql.ARRAY(DateTime(timezone=True))
    columns = ["email", "name", "created_at", "updated_at", "version"]
    values: list[Any] = [
        func.unnest(bindparam("emails", type_=postgresql.ARRAY(users.c.email.type))),
        func.unnest(bindparam("names", type_=postgresql.ARRAY(users.c.name.type))),
        func.unnest(bindparam("created", type_=timestamps)),
        func.unnest(bindparam("updated", type_=timestamps)),
        literal_column("1"),
    ]
    if ids:
        columns.insert(0, "id")
        values.insert(0, func.unnest(bindparam("ids", type_=postgresql.ARRAY(BigInteger()))))
    base = postgresql.insert(users).from_select(columns, select(*values))
    statement = base.on_conflict_do_nothing().returning(*USER_COLUMNS)
    if not events:
        return statement
    now = bindparam("now", type_=UTCDateTime())
    return _with_created_events(statement, lambda _c: now)


_ID_SEQUENCE = func.pg_get_serial_sequence("users", "id")
# PostgreSQL: the id sequence (users' and groups' alike) moved past kept ids, never back
# (another writer may have drawn from it meanwhile).
ADVANCE_IDS = select(
    func.setval(
        _ID_SEQUENCE,
        func.greatest(
            select(func.max(users.c.id)).scalar_subquery(),
            select(func.max(groups.c.id)).scalar_subquery(),
            func.coalesce(func.pg_sequence_last_value(cast(_ID_SEQUENCE, postgresql.REGCLASS)), 0),
            1,
        ),
    )
)


@cache
def update_user_with_event(
    *, email: bool, name: bool, guarded: bool
) -> Select[tuple[int, str, str, object, object, int]]:
    """PostgreSQL: `update_user`, and its `updated` event naming the fields that changed.
    The user's row is locked first (`old`), so what it held before is known exactly."""
    old = (
        select(users.c.id, users.c.email, users.c.name)
        .where(users.c.id == bindparam("user_id"))
        .with_for_update()
        .cte("old")
    )
    base = _update_user(POSTGRESQL, email=email, name=name, guarded=guarded)
    updated = (
        base.where(users.c.id == old.c.id)
        .returning(old.c.email.label("old_email"), old.c.name.label("old_name"))
        .cte("updated")
    )
    changed = func.concat_ws(
        ",",
        case((updated.c.email != updated.c.old_email, literal("email"))),
        case((updated.c.name != updated.c.old_name, literal("name"))),
    )
    events = _events_of("updated", updated, changed, updated.c.updated_at)
    columns = [updated.c[c.name] for c in USER_COLUMNS]
    return select(*columns).add_cte(events).execution_options(operation_name="UPDATE users")


@cache
def delete_user_with_event(*, guarded: bool) -> Select[tuple[int]]:
    """PostgreSQL: `delete_user`, RETURNING what its `deleted` event needs."""
    deleted = (
        _delete_user(POSTGRESQL, guarded=guarded)
        .returning(users.c.id, users.c.version)
        .cte("deleted")
    )
    events = (
        insert(outbox)
        .from_select(
            ["event_id", "kind", "user_id", "version", "traceparent", "occurred_at"],
            select(
                _new_event_id(),
                literal("deleted"),
                deleted.c.id,
                deleted.c.version,
                _traceparent(),
                bindparam("now", type_=UTCDateTime()),
            ),
        )
        .cte("events")
    )
    return select(deleted.c.id).add_cte(events).execution_options(operation_name="DELETE users")


@cache
def delete_user_returning_version(dialect: str, *, guarded: bool) -> ReturningDelete[tuple[int]]:
    """SQLite: `delete_user`, RETURNING the version its event carries."""
    return _delete_user(dialect, guarded=guarded).returning(users.c.version)


# SQLite: the event as its own INSERT, in the write's transaction.
INSERT_EVENTS = insert(outbox).returning(outbox.c.position)

OUTBOX_COLUMNS = (
    outbox.c.position,
    outbox.c.event_id,
    outbox.c.kind,
    outbox.c.user_id,
    outbox.c.version,
    outbox.c.email,
    outbox.c.name,
    outbox.c.created_at,
    outbox.c.updated_at,
    outbox.c.changed_fields,
    outbox.c.traceparent,
    outbox.c.occurred_at,
    outbox.c.description,
    outbox.c.member_count,
    outbox.c.member_id,
)

PENDING_EVENTS = (
    select(*OUTBOX_COLUMNS)
    .where(outbox.c.published_at.is_(None))
    .order_by(outbox.c.position)
    .limit(bindparam("limit", type_=Integer))
)


@cache
def mark_published(dialect: str) -> Update:
    return (
        update(outbox)
        .where(any_of(outbox.c.position, "positions", dialect))
        .values(published_at=bindparam("now", type_=UTCDateTime()))
    )


PURGE_EVENTS = delete(outbox).where(
    outbox.c.published_at < bindparam("before", type_=UTCDateTime())
)

BACKLOG = select(func.count(), func.min(outbox.c.occurred_at)).where(
    outbox.c.published_at.is_(None)
)

# One relay at a time publishes: a transaction-scoped advisory lock (released when the
# relay's transaction ends, so it works through transaction-mode PgBouncer, and a relay
# that dies loses it with its connection). The key is arbitrary but fixed.
RELAY_LOCK_KEY = 0x75736572_73657673  # "usersevs"
TRY_LEAD = select(func.pg_try_advisory_xact_lock(literal_column(str(RELAY_LOCK_KEY))))
