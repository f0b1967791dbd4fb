"""board and shared objects

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board_ops",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("appointment_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("op_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appointment_id", "seq"),
    )
    with op.batch_alter_table("board_ops", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_board_ops_appointment_id"), ["appointment_id"], unique=False
        )

    op.create_table(
        "shared_objects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("appointment_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shared_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shared_objects_appointment_id"), ["appointment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_shared_objects_client_id"), ["client_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("shared_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shared_objects_client_id"))
        batch_op.drop_index(batch_op.f("ix_shared_objects_appointment_id"))

    op.drop_table("shared_objects")
    with op.batch_alter_table("board_ops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_board_ops_appointment_id"))

    op.drop_table("board_ops")
