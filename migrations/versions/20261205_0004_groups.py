"""Create groups and their memberships; the outbox carries group events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # PostgreSQL: ids from the users' identity sequence (SQLite: the adapter assigns them).
    id_default = sa.text("nextval('users_id_seq'::regclass)") if postgresql else None
    op.create_table(
        "groups",
        sa.Column("id", _ID, nullable=False, server_default=id_default, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
    )
    op.create_index("uq_groups_name_key", "groups", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "group_members",
        sa.Column("group_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name="fk_group_members_group_id_groups",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_group_members_user_id_users"),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_group_members"),
    )
    op.create_index("ix_group_members_user_id_group_id", "group_members", ["user_id", "group_id"])
    op.add_column("outbox", sa.Column("description", sa.String(1000), nullable=True))
    op.add_column("outbox", sa.Column("member_count", sa.Integer(), nullable=True))
    op.add_column("outbox", sa.Column("member_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # The earlier release's relay knows users' events only.
    op.execute(
        "DELETE FROM outbox WHERE kind IN "
        "('group_created', 'group_updated', 'group_deleted', 'member_added', 'member_removed')"
    )
    op.drop_column("outbox", "member_id")
    op.drop_column("outbox", "member_count")
    op.drop_column("outbox", "description")
    op.drop_index("ix_group_members_user_id_group_id", table_name="group_members")
    op.drop_table("group_members")
    op.drop_index("uq_groups_name_key", table_name="groups")
    op.drop_table("groups")
