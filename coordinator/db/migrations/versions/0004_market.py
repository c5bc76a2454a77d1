"""Market: orders, clearings, matches, settlement transactions, clearing attestations (issue 7).

Revision ID: 0004_market
Revises: 0003_oracle
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_market"
down_revision: str | None = "0003_oracle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def _job_table(name: str) -> None:
    """A table of `programs.jobs.Job` rows for one epoch each."""
    op.create_table(
        name,
        sa.Column("job_key", sa.Text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=True),
        sa.Column("blockhash", sa.LargeBinary(32), nullable=True),
        sa.Column("tx", sa.LargeBinary(), nullable=True),
        sa.Column("slot", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("job_key", name=f"pk_{name}"),
        sa.UniqueConstraint("signature", name=f"uq_{name}_signature"),
    )


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("seq", BigId, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(44), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("limit_price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("eligible", sa.BigInteger(), nullable=False),
        sa.Column("filled", sa.BigInteger(), nullable=False),
        sa.Column("payment", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.BigInteger(), nullable=False),
        sa.Column("settlement_status", sa.String(16), nullable=True),
        sa.Column("settlement_error", sa.Text(), nullable=True),
        sa.Column("expires_at", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_orders"),
        sa.UniqueConstraint("order_id", name="uq_orders_order_id"),
    )
    op.create_index("ix_orders_epoch_status", "orders", ["epoch", "status"])
    op.create_index("ix_orders_owner_status", "orders", ["owner", "status"])
    op.create_table(
        "clearings",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("inputs", sa.LargeBinary(), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=False),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("result_hash", sa.String(64), nullable=False),
        sa.Column("pricing", sa.String(16), nullable=False),
        sa.Column("clearing_price", sa.BigInteger(), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("turnover", sa.BigInteger(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("match_count", sa.Integer(), nullable=False),
        sa.Column("cleared_at", Stamp, nullable=False),
        sa.Column("published_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("epoch", name="pk_clearings"),
    )
    op.create_table(
        "matches",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("buy_order_id", sa.String(64), nullable=False),
        sa.Column("sell_order_id", sa.String(64), nullable=False),
        sa.Column("buyer", sa.String(44), nullable=False),
        sa.Column("seller", sa.String(44), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("payment", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("settlement_key", sa.Text(), nullable=True),
        sa.Column("signature", sa.LargeBinary(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("epoch", "idx", name="pk_matches"),
    )
    op.create_index("ix_matches_buyer", "matches", ["buyer", "epoch"])
    op.create_index("ix_matches_seller", "matches", ["seller", "epoch"])
    op.create_index("ix_matches_status", "matches", ["status"])
    _job_table("settlements")
    op.create_index("ix_settlements_epoch_status", "settlements", ["epoch", "status"])
    _job_table("clearing_attestations")
    op.create_index("ix_clearing_attestations_status", "clearing_attestations", ["status"])


def downgrade() -> None:
    for table in ("clearing_attestations", "settlements", "matches", "clearings", "orders"):
        op.drop_table(table)
