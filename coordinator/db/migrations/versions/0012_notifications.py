"""User notifications (coordinator.notify): each user's opt-in, the outbox of
deliveries (one row per idempotency key), and the producer's position in the
sources it reads.

Revision ID: 0012_notifications
Revises: 0011_ledger_journal_meta
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_notifications"
down_revision: str | None = "0011_ledger_journal_meta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notify_subscriptions",
        sa.Column("user", sa.String(44), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(80), nullable=True),
        sa.Column("kinds", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("user", name="pk_notify_subscriptions"),
    )
    op.create_table(
        "notify_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("user", sa.String(44), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notify_outbox"),
        sa.UniqueConstraint("key", name="uq_notify_outbox_key"),
    )
    op.create_index("ix_notify_outbox_status_due", "notify_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_notify_outbox_user_id", "notify_outbox", ["user", "id"])
    op.create_table(
        "notify_cursors",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_notify_cursors"),
    )
    op.create_table(
        "notify_seen",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("item", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("source", "item", name="pk_notify_seen"),
    )


def downgrade() -> None:
    op.drop_table("notify_seen")
    op.drop_table("notify_cursors")
    op.drop_index("ix_notify_outbox_user_id", table_name="notify_outbox")
    op.drop_index("ix_notify_outbox_status_due", table_name="notify_outbox")
    op.drop_table("notify_outbox")
    op.drop_table("notify_subscriptions")
