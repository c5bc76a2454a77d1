"""The embedded ledger's journal keeps what a validator reports of a transaction: its
block time, its memos (as getSignaturesForAddress shows them) and the runtime's
execution meta (fee, balances and token balances before and after, compute units,
inner instructions, return data; `programs.ledger.meta`). `ledger_info` holds the
ledger's genesis hash.

Entries journaled before keep NULL there: the JSON-RPC then answers their meta with
empty lists, as for a transaction whose status meta is missing.

Revision ID: 0011_ledger_journal_meta
Revises: 0010_mint_grants
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_ledger_journal_meta"
down_revision: str | None = "0010_mint_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_journal") as batch:
        batch.add_column(sa.Column("block_time", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("memo", sa.Text(), nullable=True))
        batch.add_column(sa.Column("meta", sa.LargeBinary(), nullable=True))
    op.create_table(
        "ledger_info",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ledger_info"),
    )


def downgrade() -> None:
    op.drop_table("ledger_info")
    with op.batch_alter_table("ledger_journal") as batch:
        batch.drop_column("meta")
        batch.drop_column("memo")
        batch.drop_column("block_time")
