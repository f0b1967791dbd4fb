"""sign-off requests and send-backs; an escalation's closing note

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_off_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=32), nullable=False),
        sa.Column("comment_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["response_id"], ["checklist_responses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sign_off_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_off_requests_client_id"), ["client_id"], unique=False
        )
    with op.batch_alter_table("escalation_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalation_events", schema=None) as batch_op:
        batch_op.drop_column("note_enc")
    with op.batch_alter_table("sign_off_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_off_requests_client_id"))
    op.drop_table("sign_off_requests")
