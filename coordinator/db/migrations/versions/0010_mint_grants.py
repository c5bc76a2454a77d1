"""Every owner's energy of every epoch accounted for: minted, withheld (with a reason)
or pending (`mint_grants`, `coordinator.onchain.grants`).

Before, a mint batch the ledger refused (one frozen account in it was enough) was
recorded as `epoch_onchain.error` and never retried. The grants of every stored
mint batch are carried over: a confirmed batch's as minted, any other's as
pending with their batch job, so the chain worker confirms the job failed and
mints them, each exactly once. `epoch_onchain.minted_base_units` becomes what is
minted of the epoch so far, and its `error` is cleared: the grants say it now.

Revision ID: 0010_mint_grants
Revises: 0009_governance
Create Date: 2026-12-04
"""

import datetime as dt
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from solders.signature import Signature

revision: str = "0010_mint_grants"
down_revision: str | None = "0009_governance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_grants = sa.table(
    "mint_grants",
    sa.column("epoch", sa.BigInteger()),
    sa.column("owner", sa.String()),
    sa.column("base_units", sa.BigInteger()),
    sa.column("status", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("batch_key", sa.Text()),
    sa.column("attempts", sa.Integer()),
    sa.column("failures", sa.Integer()),
    sa.column("signature", sa.Text()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_jobs = sa.table(
    "chain_jobs",
    sa.column("job_key", sa.Text()),
    sa.column("kind", sa.Text()),
    sa.column("payload", sa.Text()),
    sa.column("status", sa.Text()),
    sa.column("signature", sa.LargeBinary()),
)


def upgrade() -> None:
    op.create_table(
        "mint_grants",
        sa.Column("epoch", sa.BigInteger(), primary_key=True),
        sa.Column("owner", sa.String(44), primary_key=True),
        sa.Column("base_units", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch_key", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mint_grants_status_epoch", "mint_grants", ["status", "epoch"])
    _carry_over_batches()


def _carry_over_batches() -> None:
    conn = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    rows = []
    for key, payload, status, signature in conn.execute(
        sa.select(_jobs.c.job_key, _jobs.c.payload, _jobs.c.status, _jobs.c.signature).where(
            _jobs.c.kind == "mint", _jobs.c.job_key.like("mint:epoch:%:batch:%")
        )
    ):
        body = json.loads(payload)
        minted = status == "confirmed" and signature is not None
        for owner, units in body["grants"]:
            rows.append(
                {
                    "epoch": int(body["epoch"]), "owner": owner, "base_units": int(units),
                    "status": "minted" if minted else "pending", "reason": None,
                    "batch_key": key, "attempts": 0, "failures": 0,
                    "signature": str(Signature.from_bytes(bytes(signature))) if minted else None,
                    "updated_at": now,
                }
            )  # fmt: skip
    if rows:
        conn.execute(sa.insert(_grants), rows)
    conn.execute(
        sa.text(
            "UPDATE epoch_onchain SET error = NULL, minted_base_units = COALESCE(("
            "SELECT SUM(base_units) FROM mint_grants WHERE mint_grants.epoch = epoch_onchain.epoch"
            " AND mint_grants.status = 'minted'), 0) "
            "WHERE epoch IN (SELECT epoch FROM mint_grants)"
        )
    )


def downgrade() -> None:
    # The epochs with grants not minted get back the error that made them visible.
    op.execute(
        "UPDATE epoch_onchain SET error = 'mint incomplete: grants withheld or pending' "
        "WHERE epoch IN (SELECT epoch FROM mint_grants WHERE status <> 'minted')"
    )
    op.drop_index("ix_mint_grants_status_epoch", table_name="mint_grants")
    op.drop_table("mint_grants")
