"""Settlement's writes made cheaper: epochs say when they are settled, match rows are
updated without touching an index, and settlement rows are stored whole.

`clearings.settled_at` is set once no match of the epoch is pending, which is what
a restart asks for (it used to ask an index on `matches.status`). Without that
index no column a settlement writes is indexed, and with pages filled to 40 %
(fillfactor; pages written before keep theirs) PostgreSQL updates a settled
match in place (HOT) instead of adding an entry to every index.

A settlement job's row (payload of some 26 trades, transaction bytes) and a
journal entry (transaction bytes, named addresses) are 3 to 4 KB: above
PostgreSQL's default 2 KB target, each was compressed in vain (keys and
signatures do not compress) and moved to a TOAST table. `toast_tuple_target`
8160 keeps rows of up to a page in their table.

Revision ID: 0008_settled_epochs
Revises: 0007_ledger_address_slots
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_settled_epochs"
down_revision: str | None = "0007_ledger_address_slots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHOLE_ROWS = ("settlements", "chain_jobs", "ledger_journal")


def upgrade() -> None:
    with op.batch_alter_table("clearings") as batch:
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    # Epochs with nothing pending are settled already (the time is the clearing's: the
    # real one was not recorded).
    op.execute(
        "UPDATE clearings SET settled_at = cleared_at WHERE NOT EXISTS "
        "(SELECT 1 FROM matches WHERE matches.epoch = clearings.epoch "
        "AND matches.status = 'pending')"
    )
    op.drop_index("ix_matches_status", table_name="matches")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE matches SET (fillfactor = 40)")
        for table in _WHOLE_ROWS:
            op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE matches RESET (fillfactor)")
        for table in _WHOLE_ROWS:
            op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")
    op.create_index("ix_matches_status", "matches", ["status"])
    with op.batch_alter_table("clearings") as batch:
        batch.drop_column("settled_at")
