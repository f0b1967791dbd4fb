"""the language of a client's family pages, as the therapist set it (sealed)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN on both databases: nullable (no language set: the browser's), so no
    # table is copied
    op.add_column("clients", sa.Column("language_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("clients", "language_enc")
