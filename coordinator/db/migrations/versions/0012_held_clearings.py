"""`held_clearings`: one row per pause of clearing, from the epoch it began, until the
chain leader has cleared every epoch it held back (`caught_up_at`), epochs without
orders included (`coordinator.onchain.governed`).

Revision ID: 0012_held_clearings
Revises: 0011_ledger_journal_meta
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_held_clearings"
down_revision: str | None = "0011_ledger_journal_meta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "held_clearings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("from_epoch", sa.BigInteger(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_held_clearings"),
    )


def downgrade() -> None:
    op.drop_table("held_clearings")
