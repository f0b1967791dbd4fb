"""groups: a named set of a therapist's clients who meet in one room, each member with their
own join link and gate; a group's sessions name the group instead of one client

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("therapist_id", sa.String(length=32), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["therapist_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_therapist_id"), ["therapist_id"], unique=False)
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "client_id"),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_client_id"), ["client_id"], unique=False)
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.alter_column("client_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("group_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_appointments_group_id"), ["group_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_appointments_group_id_groups", "groups", ["group_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("shared_objects", schema=None) as batch_op:
        batch_op.alter_column("client_id", existing_type=sa.String(length=32), nullable=True)
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            "fk_escalations_client_id_clients", "clients", ["client_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_constraint("fk_escalations_client_id_clients", type_="foreignkey")
        batch_op.drop_column("client_id")
    op.execute("DELETE FROM shared_objects WHERE client_id IS NULL")
    with op.batch_alter_table("shared_objects", schema=None) as batch_op:
        batch_op.alter_column("client_id", existing_type=sa.String(length=32), nullable=False)
    op.execute("DELETE FROM appointments WHERE client_id IS NULL")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_constraint("fk_appointments_group_id_groups", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_appointments_group_id"))
        batch_op.drop_column("group_id")
        batch_op.alter_column("client_id", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_client_id"))
    op.drop_table("group_members")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_therapist_id"))
    op.drop_table("groups")
