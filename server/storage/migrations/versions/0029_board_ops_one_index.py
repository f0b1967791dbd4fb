"""board operations: one index on the room, the unique one

The index on ``appointment_id`` alone repeated the first column of the unique index on
``(appointment_id, seq)``, which answers the same lookups. Every operation stored wrote both,
each at its room's place in the index: a third of a transaction's CPU on SQLite.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("board_ops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_board_ops_appointment_id"))


def downgrade() -> None:
    with op.batch_alter_table("board_ops", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_board_ops_appointment_id"), ["appointment_id"], unique=False
        )
