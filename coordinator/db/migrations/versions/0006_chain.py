"""On-chain state: the embedded ledger's accounts and journal, chain jobs, and
per-epoch minting / attestation outcomes.

Revision ID: 0006_chain
Revises: 0005_api
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_chain"
down_revision: str | None = "0005_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Mirrors programs.ledger.store.ledger_metadata (tables owned by programs/).
    op.create_table(
        "ledger_accounts",
        sa.Column("address", sa.LargeBinary(32), primary_key=True),
        sa.Column("lamports", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.LargeBinary(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("executable", sa.Boolean(), nullable=False),
        sa.Column("rent_epoch", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ledger_journal",
        sa.Column("signature", sa.LargeBinary(64), primary_key=True),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("tx", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("logs", sa.Text(), nullable=True),
    )
    op.create_index("ix_ledger_journal_slot", "ledger_journal", ["slot"])
    op.create_table(
        "ledger_journal_addresses",
        sa.Column("address", sa.LargeBinary(32), primary_key=True),
        sa.Column("signature", sa.LargeBinary(64), primary_key=True),
        sa.Column("slot", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_ledger_journal_addresses_address_slot",
        "ledger_journal_addresses",
        ["address", "slot"],
    )
    op.create_table(
        "chain_jobs",
        sa.Column("job_key", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=True, unique=True),
        sa.Column("blockhash", sa.LargeBinary(32), nullable=True),
        sa.Column("tx", sa.LargeBinary(), nullable=True),
        sa.Column("slot", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chain_jobs_status", "chain_jobs", ["status"])
    op.create_table(
        "epoch_onchain",
        sa.Column("epoch", sa.BigInteger(), primary_key=True),
        sa.Column("minted_base_units", sa.BigInteger(), nullable=False),
        sa.Column("unowned_base_units", sa.BigInteger(), nullable=False),
        sa.Column("mint_signatures", sa.Text(), nullable=False),
        sa.Column("attestation_signature", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("epoch_onchain")
    op.drop_index("ix_chain_jobs_status", table_name="chain_jobs")
    op.drop_table("chain_jobs")
    op.drop_index("ix_ledger_journal_addresses_address_slot", table_name="ledger_journal_addresses")
    op.drop_table("ledger_journal_addresses")
    op.drop_index("ix_ledger_journal_slot", table_name="ledger_journal")
    op.drop_table("ledger_journal")
    op.drop_table("ledger_accounts")
