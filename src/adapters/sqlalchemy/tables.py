"""The schema, as SQLAlchemy metadata: Alembic's source of truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    FetchedValue,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

EMAIL_KEY_INDEX = "uq_users_email_key"


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; on SQLite, which keeps no zone, read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware UTC value")
        return value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # asyncpg reads timestamptz as an aware UTC datetime already: nothing to do.
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value.utcoffset() else value


# SQLite gives AUTOINCREMENT (ids never reused) only to an INTEGER PRIMARY KEY.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", ID_TYPE, Identity(), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    sqlite_autoincrement=True,
)

Index(EMAIL_KEY_INDEX, func.lower(users.c.email), unique=True)

GROUP_NAME_KEY_INDEX = "uq_groups_name_key"
# Ids come from the users' own sequence, so that no group ever has a user's id: on
# PostgreSQL the column's default draws from it (set by the migration), on SQLite the
# adapter moves the users' AUTOINCREMENT counter and takes its value.

groups = Table(
    "groups",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=False, server_default=FetchedValue()),
    Column("name", String(100), nullable=False),
    Column("description", String(1000), nullable=True),
    Column("member_count", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
)

Index(GROUP_NAME_KEY_INDEX, func.lower(groups.c.name), unique=True)

# A membership cannot outlive its group (deleted with it) nor its user (a user is deleted
# only after its memberships, so that each of its groups' counts moves with them).
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ID_TYPE, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ID_TYPE, ForeignKey("users.id"), primary_key=True),
)

Index("ix_group_members_user_id_group_id", group_members.c.user_id, group_members.c.group_id)

# Idempotency-Key records: the first outcome of a keyed request, replayed on repeats.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(255), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("headers", Text, nullable=True),  # JSON text: [[name, value], ...]
    Column("started_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

Index("ix_idempotency_keys_expires_at", idempotency_keys.c.expires_at)

# The outbox: every committed change's event, written in the same atomic step as the
# change, until the relay has published it (`published_at`) and the retention has passed.
# A snapshot of the user as the change left it (none for a delete), so that the event
# says what the change did whatever happens to the user later.
outbox = Table(
    "outbox",
    metadata,
    Column("position", ID_TYPE, Identity(), primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("email", String(254), nullable=True),
    Column("name", String(100), nullable=True),
    Column("created_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=True),
    Column("changed_fields", String(64), nullable=True),
    Column("traceparent", String(64), nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),
    # A group's events: `user_id` holds the group's id (ids never repeat across users and
    # groups), `name` its name; a member event names its user in `member_id`.
    Column("description", String(1000), nullable=True),
    Column("member_count", Integer, nullable=True),
    Column("member_id", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

# What the relay reads: the pending events, in position order (a partial index, so that
# it stays as small as the backlog, whatever the retention keeps).
Index(
    "ix_outbox_pending",
    outbox.c.position,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)
Index("ix_outbox_published_at", outbox.c.published_at)
