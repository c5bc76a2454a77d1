"""The embedded ledger's address index narrowed to (address, slot); the journal keeps
the addresses each transaction names.

The old index held (address, signature, slot) under two indexes: about 60 rows a
settlement transaction, most of what a settlement's write cost the database. The
ledger runs one transaction per slot, so the slot alone finds the journal entry
(now a unique index). Existing rows are carried over.

Revision ID: 0007_ledger_address_slots
Revises: 0006_chain
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_ledger_address_slots"
down_revision: str | None = "0006_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_journal = sa.table(
    "ledger_journal",
    sa.column("signature", sa.LargeBinary()),
    sa.column("addresses", sa.LargeBinary()),
)
_old_index = sa.table(
    "ledger_journal_addresses",
    sa.column("address", sa.LargeBinary()),
    sa.column("signature", sa.LargeBinary()),
    sa.column("slot", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("ledger_journal") as batch:
        batch.add_column(sa.Column("addresses", sa.LargeBinary(), nullable=True))
    _carry_addresses()
    with op.batch_alter_table("ledger_journal") as batch:
        batch.alter_column("addresses", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_index("ix_ledger_journal_slot", table_name="ledger_journal")
    op.create_index("ix_ledger_journal_slot", "ledger_journal", ["slot"], unique=True)
    op.create_table(
        "ledger_address_slots",
        sa.Column("address", sa.LargeBinary(32), primary_key=True),
        sa.Column("slot", sa.BigInteger(), primary_key=True),
    )
    op.execute(
        "INSERT INTO ledger_address_slots (address, slot) "
        "SELECT DISTINCT address, slot FROM ledger_journal_addresses"
    )
    op.drop_index("ix_ledger_journal_addresses_address_slot", table_name="ledger_journal_addresses")
    op.drop_table("ledger_journal_addresses")


def _carry_addresses() -> None:
    """Each journal entry's addresses, from the old index, in byte order (both dialects)."""
    conn = op.get_bind()
    named: dict[bytes, list[bytes]] = {}
    rows = conn.execute(
        sa.select(_old_index.c.signature, _old_index.c.address).order_by(
            _old_index.c.signature, _old_index.c.address
        )
    )
    for signature, address in rows:
        named.setdefault(bytes(signature), []).append(bytes(address))
    conn.execute(sa.update(_journal).values(addresses=b""))
    if named:
        conn.execute(
            sa.update(_journal)
            .where(_journal.c.signature == sa.bindparam("b_signature"))
            .values(addresses=sa.bindparam("b_addresses")),
            [{"b_signature": s, "b_addresses": b"".join(a)} for s, a in named.items()],
        )


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO ledger_journal_addresses (address, signature, slot) "
        "SELECT a.address, j.signature, a.slot FROM ledger_address_slots a "
        "JOIN ledger_journal j ON j.slot = a.slot"
    )
    op.drop_table("ledger_address_slots")
    op.drop_index("ix_ledger_journal_slot", table_name="ledger_journal")
    op.create_index("ix_ledger_journal_slot", "ledger_journal", ["slot"])
    with op.batch_alter_table("ledger_journal") as batch:
        batch.drop_column("addresses")
