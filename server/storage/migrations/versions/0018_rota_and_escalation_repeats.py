"""supervisors' shifts (a weekly pattern and a button), and escalation repeats kept in the
database so that any node sends them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("supervisor_id", sa.String(length=32), nullable=False),
        sa.Column("pattern_days", sa.Integer(), nullable=False),
        sa.Column("pattern_start", sa.String(length=5), nullable=True),
        sa.Column("pattern_end", sa.String(length=5), nullable=True),
        sa.Column("manual_on", sa.Boolean(), nullable=True),
        sa.Column("manual_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["supervisor_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("supervisor_id"),
    )
    op.create_table(
        "escalation_repeats",
        sa.Column("escalation_id", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("rota", sa.Text(), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("escalation_id"),
    )
    with op.batch_alter_table("escalation_repeats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalation_repeats_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("escalation_repeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_repeats_due_at"))
    op.drop_table("escalation_repeats")
    op.drop_table("shifts")
