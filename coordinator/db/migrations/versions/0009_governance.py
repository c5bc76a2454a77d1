"""Governance that governs (issue 24): emergency controls, governed parameters, and
sessions the server can end.

- `market_controls`: one row per paused scope of the market, read by every
  instance's loops and by the API.
- `param_changes`: governed parameter changes signed by the REC authority's
  wallet, resolved by `from_epoch` (`coordinator.governance.params`).
- `users.token_version`: every session token carries it; raising it ends the
  user's live sessions (a role change). `users.roles_set_at`: set once roles are
  set through the API, after which the database alone decides the user's roles.
- `revoked_tokens`: sessions ended by sign-out, until they would have expired.

Revision ID: 0009_governance
Revises: 0008_settled_epochs
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_governance"
down_revision: str | None = "0008_settled_epochs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "market_controls",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("since", Stamp, nullable=False),
        sa.Column("since_epoch", sa.BigInteger(), nullable=False),
        sa.Column("paused_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("memo_signature", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_market_controls"),
    )
    op.create_table(
        "param_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("from_epoch", sa.BigInteger(), nullable=False),
        sa.Column("authority", sa.String(44), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("memo_signature", sa.String(100), nullable=False),
        sa.Column("recorded_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_param_changes"),
        sa.UniqueConstraint("signature", name="uq_param_changes_signature"),
    )
    op.create_index("ix_param_changes_name_from_epoch", "param_changes", ["name", "from_epoch"])
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("revoked_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_tokens"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("roles_set_at", Stamp, nullable=True))
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
        batch.drop_column("roles_set_at")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_index("ix_param_changes_name_from_epoch", table_name="param_changes")
    op.drop_table("param_changes")
    op.drop_table("market_controls")
