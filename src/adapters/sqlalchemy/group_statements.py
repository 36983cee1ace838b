"""The statements of groups and memberships, built once per shape with SQLAlchemy Core
(the same rules as `statements.py`: named binds only, `= ANY(:ids)` on PostgreSQL and an
expanding `IN` elsewhere).

Memberships are only ever changed by set: an INSERT ... SELECT of every user added, a
DELETE ... WHERE user_id IN of every user removed, one UPDATE of the group's count and
version; on PostgreSQL all three, and the events, are one statement
(`change_members_at_once`), on SQLite one each. No statement reads a group's members to
change them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Insert,
    Integer,
    Select,
    String,
    Update,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningDelete
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from users_service.adapters.sqlalchemy.statements import POSTGRESQL, USER_COLUMNS, any_of
from users_service.adapters.sqlalchemy.tables import (
    UTCDateTime,
    group_members,
    groups,
    outbox,
    users,
)

GROUP_COLUMNS = (
    groups.c.id,
    groups.c.name,
    groups.c.description,
    groups.c.member_count,
    groups.c.created_at,
    groups.c.updated_at,
    groups.c.version,
)

_MEMBER_EVENT_COLUMNS = [
    "event_id",
    "kind",
    "user_id",
    "version",
    "member_id",
    "traceparent",
    "occurred_at",
]

GET_GROUP = select(*GROUP_COLUMNS).where(groups.c.id == bindparam("group_id"))


@cache
def lock_group(dialect: str) -> Select[Any]:
    """The group, its row locked until the transaction ends (SQLite: the writer's
    transaction holds the database's write lock already)."""
    statement = select(*GROUP_COLUMNS).where(groups.c.id == bindparam("group_id"))
    return statement.with_for_update() if dialect == POSTGRESQL else statement


@cache
def group_page(dialect: str, *, descending: bool, after: bool, by_name: bool) -> Select[Any]:
    statement = select(*GROUP_COLUMNS)
    if after:
        after_id = bindparam("after", type_=groups.c.id.type)
        statement = statement.where(
            groups.c.id < after_id if descending else groups.c.id > after_id
        )
    if by_name:
        statement = statement.where(func.lower(groups.c.name) == func.lower(bindparam("name")))
    order = groups.c.id.desc() if descending else groups.c.id.asc()
    return statement.order_by(order).limit(bindparam("limit", type_=Integer))


@cache
def insert_group(dialect: str, *, kept_id: bool) -> Insert:
    """Insert unless the name (or a kept id) is taken; RETURNING the stored row. The id
    is the column's default on PostgreSQL (the users' sequence) and `id` elsewhere."""
    values: dict[str, Any] = {
        "name": bindparam("new_name", type_=groups.c.name.type),
        "description": bindparam("new_description", type_=groups.c.description.type),
        "member_count": literal_column("0"),
        "created_at": bindparam("created", type_=UTCDateTime()),
        "updated_at": bindparam("updated", type_=UTCDateTime()),
        "version": literal_column("1"),
    }
    if kept_id or dialect != POSTGRESQL:
        values["id"] = bindparam("new_id", type_=BigInteger())
    dialect_insert = postgresql.insert if dialect == POSTGRESQL else sqlite.insert
    if kept_id:  # an id a user holds is taken too: ids never repeat across the two
        new_id = bindparam("new_id", type_=BigInteger())
        row = select(*values.values()).where(~exists().where(users.c.id == new_id))
        statement = dialect_insert(groups).from_select(list(values), row)
        return statement.on_conflict_do_nothing().returning(*GROUP_COLUMNS)
    return dialect_insert(groups).values(values).on_conflict_do_nothing().returning(*GROUP_COLUMNS)


# SQLite: a group's id is the users' AUTOINCREMENT counter moved on by one, so that a
# later user's id is past it too. The counter's row exists once a user was ever stored.
SQLITE_SEQUENCE_ROW = text(
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'users', 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users')"
)
SQLITE_NEXT_ID = text("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'users' RETURNING seq")
SQLITE_ADVANCE_IDS = text("UPDATE sqlite_sequence SET seq = max(seq, :past) WHERE name = 'users'")


@cache
def update_group(dialect: str, *, name: bool, description: bool, guarded: bool) -> Update:
    """Apply a merge patch and bump the version, only if it changes something (and, when
    `guarded`, only if the version is one of `versions`)."""
    values: dict[str, object] = {
        "updated_at": bindparam("now", type_=UTCDateTime()),
        "version": groups.c.version + 1,
    }
    differs: list[ColumnElement[bool]] = []
    if name:
        values["name"] = bindparam("new_name", type_=groups.c.name.type)
        differs.append(groups.c.name != bindparam("new_name", type_=groups.c.name.type))
    if description:
        new = bindparam("new_description", type_=groups.c.description.type)
        values["description"] = new
        differs.append(groups.c.description.is_distinct_from(new))
    condition = and_(groups.c.id == bindparam("group_id"), or_(*differs))
    if guarded:
        condition = and_(condition, any_of(groups.c.version, "versions", dialect))
    return update(groups).where(condition).values(values).returning(*GROUP_COLUMNS)


@cache
def delete_group(dialect: str, *, guarded: bool) -> ReturningDelete[Any]:
    """Delete the group (its memberships go with it: ON DELETE CASCADE), RETURNING the
    version its event carries."""
    condition: ColumnElement[bool] = groups.c.id == bindparam("group_id")
    if guarded:
        condition = and_(condition, any_of(groups.c.version, "versions", dialect))
    return delete(groups).where(condition).returning(groups.c.version)


@cache
def existing_users(dialect: str) -> Select[Any]:
    return select(users.c.id).where(any_of(users.c.id, "ids", dialect))


# SQLite: a change of members one statement at a time (PostgreSQL: `change_members_at_once`).
# Every listed user that exists and is not a member yet becomes one, RETURNING the ids
# really added (the SELECT has a WHERE clause: SQLite then reads ON CONFLICT as the
# INSERT's); every listed member leaves, RETURNING the ids really removed.
ADD_MEMBERS = (
    sqlite.insert(group_members)
    .from_select(
        ["group_id", "user_id"],
        select(bindparam("member_of", type_=BigInteger()), users.c.id).where(
            users.c.id.in_(bindparam("ids", expanding=True))
        ),
    )
    .on_conflict_do_nothing()
    .returning(group_members.c.user_id)
)
REMOVE_MEMBERS = (
    delete(group_members)
    .where(
        group_members.c.group_id == bindparam("group_id"),
        group_members.c.user_id.in_(bindparam("ids", expanding=True)),
    )
    .returning(group_members.c.user_id)
)


@cache
def change_members_at_once(*, events: bool) -> Select[Any]:
    """PostgreSQL: a locked group's whole change of members in one statement (arrays
    `add` and `remove`): the insert, the delete, the group's count and version moved once
    if either did anything, and with `events` one event per member really added or
    removed. It returns the group as the change left it, with the ids added and removed
    (ascending), or no row when nothing changed. Data-modifying CTEs each run once and
    see one snapshot; the group's row was locked before, so nothing else moves it."""
    group_id = bindparam("group_id", type_=BigInteger())
    now = bindparam("now", type_=UTCDateTime())
    ids = postgresql.ARRAY(BigInteger())
    candidates = select(bindparam("member_of", type_=BigInteger()), users.c.id).where(
        users.c.id == func.any(bindparam("add", type_=ids))
    )
    added = (
        postgresql.insert(group_members)
        .from_select(["group_id", "user_id"], candidates)
        .on_conflict_do_nothing()
        .returning(group_members.c.user_id)
        .cte("added")
    )
    removed = (
        delete(group_members)
        .where(
            group_members.c.group_id == group_id,
            group_members.c.user_id == func.any(bindparam("remove", type_=ids)),
        )
        .returning(group_members.c.user_id)
        .cte("removed")
    )
    added_count = select(func.count()).select_from(added).scalar_subquery()
    removed_count = select(func.count()).select_from(removed).scalar_subquery()
    moved = (
        update(groups)
        .where(groups.c.id == group_id, added_count + removed_count > 0)
        .values(
            member_count=groups.c.member_count + added_count - removed_count,
            version=groups.c.version + 1,
            updated_at=now,
        )
        .returning(*GROUP_COLUMNS)
        .cte("moved")
    )

    def ordered(cte: Any) -> Any:
        # asyncpg reads a bigint[] as a list itself: no SQLAlchemy result processing.
        ids = func.array_agg(postgresql.aggregate_order_by(cte.c.user_id, cte.c.user_id))
        return type_coerce(select(ids).scalar_subquery(), NullType())

    statement = select(
        *moved.c, ordered(added).label("added_ids"), ordered(removed).label("removed_ids")
    )
    if events:
        traceparent = bindparam("traceparent", type_=String())

        def member_events(kind: str, cte: Any) -> Select[Any]:
            return select(
                cast(func.gen_random_uuid(), String),
                literal(kind),
                moved.c.id,
                moved.c.version,
                cte.c.user_id,
                traceparent,
                now,
            ).select_from(moved, cte)

        recorded = (
            insert(outbox)
            .from_select(
                _MEMBER_EVENT_COLUMNS,
                union_all(
                    member_events("member_added", added), member_events("member_removed", removed)
                ),
            )
            .cte("events")
        )
        statement = statement.add_cte(recorded)
    return statement.execution_options(operation_name="UPDATE groups")


MOVE_GROUP = (
    update(groups)
    .where(groups.c.id == bindparam("group_id"))
    .values(
        member_count=groups.c.member_count + bindparam("delta", type_=Integer),
        version=groups.c.version + 1,
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
    .returning(*GROUP_COLUMNS)
)


@cache
def leave_groups(dialect: str) -> ReturningDelete[Any]:
    """A user being deleted leaves every group: RETURNING the groups it left."""
    return (
        delete(group_members)
        .where(group_members.c.user_id == bindparam("user_id"))
        .returning(group_members.c.group_id)
    )


@cache
def groups_lost_a_member(dialect: str) -> Update:
    """Each group a deleted user left: one member fewer, a new version."""
    return (
        update(groups)
        .where(any_of(groups.c.id, "ids", dialect))
        .values(
            member_count=groups.c.member_count - 1,
            version=groups.c.version + 1,
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
        .returning(groups.c.id, groups.c.version)
    )


# PostgreSQL: the groups a user is in, locked in id order (before the user is deleted).
LOCK_GROUPS_OF_USER = (
    select(groups.c.id)
    .where(
        groups.c.id.in_(
            select(group_members.c.group_id).where(group_members.c.user_id == bindparam("user_id"))
        )
    )
    .order_by(groups.c.id)
    .with_for_update()
)


@cache
def lock_user(dialect: str) -> Select[Any]:
    """The user's version, its row locked until the transaction ends (SQLite: the
    writer's transaction holds the database's write lock already)."""
    statement = select(users.c.version).where(users.c.id == bindparam("user_id"))
    return statement.with_for_update() if dialect == POSTGRESQL else statement


def _with_presence(page: Select[Any], present: ColumnElement[bool], width: int) -> Any:
    """`page`'s rows marked 1, and one row marked 0 if `present` finds its owner (the
    group, the user): one statement tells an empty page from a missing owner."""
    rows = page.subquery("page")
    nulls: list[Any] = [null() for _ in range(width)]
    owner = select(literal_column("0"), *nulls).where(present)
    marked = select(literal_column("1").label("marker"), *rows.c)
    return union_all(marked, owner).order_by(literal_column("marker").desc(), literal_column("id"))


def member_page(*, after: bool) -> Any:
    """A page of a group's members by ascending id, on the membership's primary key,
    and whether the group exists."""
    statement = (
        select(*USER_COLUMNS)
        .select_from(group_members.join(users, users.c.id == group_members.c.user_id))
        .where(group_members.c.group_id == bindparam("group_id"))
    )
    if after:
        statement = statement.where(
            group_members.c.user_id > bindparam("after", type_=group_members.c.user_id.type)
        )
    page = statement.order_by(group_members.c.user_id).limit(bindparam("limit", type_=Integer))
    return _with_presence(page, groups.c.id == bindparam("group_id"), len(USER_COLUMNS))


def groups_of_user(*, after: bool) -> Any:
    """A page of a user's groups by ascending id, on the (user_id, group_id) index, and
    whether the user exists."""
    statement = (
        select(*GROUP_COLUMNS)
        .select_from(group_members.join(groups, groups.c.id == group_members.c.group_id))
        .where(group_members.c.user_id == bindparam("user_id"))
    )
    if after:
        statement = statement.where(
            group_members.c.group_id > bindparam("after", type_=group_members.c.group_id.type)
        )
    page = statement.order_by(group_members.c.group_id).limit(bindparam("limit", type_=Integer))
    return _with_presence(page, users.c.id == bindparam("user_id"), len(GROUP_COLUMNS))


MEMBER_PAGE = {after: member_page(after=after) for after in (False, True)}
GROUPS_OF_USER = {after: groups_of_user(after=after) for after in (False, True)}


@cache
def group_references(dialect: str) -> Select[Any]:
    """The first `per_user` groups (id, name) of each listed user, in one statement: the
    memberships of the whole page at once, ranked per user by group id."""
    rank = func.row_number().over(
        partition_by=group_members.c.user_id, order_by=group_members.c.group_id
    )
    ranked = (
        select(
            group_members.c.user_id,
            groups.c.id.label("group_id"),
            groups.c.name,
            rank.label("rank"),
        )
        .select_from(group_members.join(groups, groups.c.id == group_members.c.group_id))
        .where(any_of(group_members.c.user_id, "ids", dialect))
        .subquery("ranked")
    )
    return (
        select(ranked.c.user_id, ranked.c.group_id, ranked.c.name)
        .where(ranked.c.rank <= bindparam("per_user", type_=Integer))
        .order_by(ranked.c.user_id, ranked.c.group_id)
    )


# ---- events -------------------------------------------------------------------------------

# A group's own event (SQLite and PostgreSQL alike: a row in the change's transaction).
INSERT_GROUP_EVENT = insert(outbox).values(
    event_id=bindparam("e_event_id", type_=String()),
    kind=bindparam("e_kind", type_=String()),
    user_id=bindparam("e_group_id", type_=BigInteger()),
    version=bindparam("e_version", type_=Integer()),
    name=bindparam("e_name", type_=String()),
    description=bindparam("e_description", type_=String()),
    member_count=bindparam("e_member_count", type_=Integer()),
    created_at=bindparam("e_created", type_=UTCDateTime()),
    updated_at=bindparam("e_updated", type_=UTCDateTime()),
    changed_fields=bindparam("e_changed", type_=String()),
    traceparent=bindparam("e_traceparent", type_=String()),
    occurred_at=bindparam("e_now", type_=UTCDateTime()),
)


# PostgreSQL: every member event of a change in one statement (arrays `kinds`, `groups`,
# `versions`, `members`).
MEMBER_EVENTS = insert(outbox).from_select(
    _MEMBER_EVENT_COLUMNS,
    select(
        cast(func.gen_random_uuid(), String),
        func.unnest(bindparam("kinds", type_=postgresql.ARRAY(String()))),
        func.unnest(bindparam("groups", type_=postgresql.ARRAY(BigInteger()))),
        func.unnest(bindparam("versions", type_=postgresql.ARRAY(Integer()))),
        func.unnest(bindparam("members", type_=postgresql.ARRAY(BigInteger()))),
        bindparam("traceparent", type_=String()),
        bindparam("now", type_=UTCDateTime()),
    ),
)

# SQLite: one parameter set per event.
MEMBER_EVENT = (
    insert(outbox)
    .values(
        event_id=bindparam("e_event_id", type_=String()),
        kind=bindparam("e_kind", type_=String()),
        user_id=bindparam("e_group_id", type_=BigInteger()),
        version=bindparam("e_version", type_=Integer()),
        member_id=bindparam("e_member_id", type_=BigInteger()),
        traceparent=bindparam("e_traceparent", type_=String()),
        occurred_at=bindparam("e_now", type_=UTCDateTime()),
    )
    .returning(outbox.c.position)
)
