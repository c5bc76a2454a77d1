"""`tariff_series`: per-epoch values of a grid parameter (retail price, feed-in price,
emission factor) for a run of epochs, signed by the REC authority's wallet and
recorded on chain by the hash of their canonical CSV (`coordinator.governance.series`).

Revision ID: 0013_tariff_series
Revises: 0012_notifications
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_tariff_series"
down_revision: str | None = "0012_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tariff_series",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("from_epoch", sa.BigInteger(), nullable=False),
        sa.Column("epoch_count", sa.Integer(), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("authority", sa.String(44), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("memo_signature", sa.String(100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tariff_series"),
        sa.UniqueConstraint("signature", name="uq_tariff_series_signature"),
    )


def downgrade() -> None:
    op.drop_table("tariff_series")
