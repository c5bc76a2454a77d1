"""What governance holds back, until it is done:

- `held_clearings`: one row per pause of clearing, from the epoch it began, until
  the chain leader has cleared every epoch it held back (`caught_up_at`), epochs
  without orders included (`coordinator.onchain.governed`);
- `parked_trades`: a cleared trade that failed to settle because a party's token
  accounts were frozen, until it is settled after the thaw, or fails for another
  reason (`resolved_at`; `coordinator.market.settlement.settle_parked`).

Revision ID: 0015_governance_backlogs
Revises: 0013_tariff_series
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_governance_backlogs"
down_revision: str | None = "0014_api_read_indexes"
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
    op.create_table(
        "parked_trades",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("epoch", "idx", name="pk_parked_trades"),
    )


def downgrade() -> None:
    op.drop_table("parked_trades")
    op.drop_table("held_clearings")
