"""Consumption matching and granular certificates (`coordinator.lifecycle`): energy
tokens held by provenance (`energy_lots`), the events applied to them once each
(`lot_sources`), each consumption epoch's retirement (`retirement_runs`), each
consumer's match in it (`retirements`) and the certificates (`certificates`).

Revision ID: 0016_energy_retirement
Revises: 0015_governance_backlogs
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_energy_retirement"
down_revision: str | None = "0015_governance_backlogs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "energy_lots",
        sa.Column("holder", sa.String(44), primary_key=True),
        sa.Column("production_epoch", sa.BigInteger(), primary_key=True),
        sa.Column("meter", sa.String(109), primary_key=True),
        sa.Column("base_units", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "lot_sources",
        sa.Column("seq", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("key", name="uq_lot_sources_key"),
    )
    op.create_table(
        "retirement_runs",
        sa.Column("epoch", sa.BigInteger(), primary_key=True),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("retired_base_units", sa.BigInteger(), nullable=False),
        sa.Column("certificate_count", sa.Integer(), nullable=False),
        sa.Column("merkle_root", sa.LargeBinary(32), nullable=True),
        sa.Column("attestation_signature", sa.Text(), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "retirements",
        sa.Column("epoch", sa.BigInteger(), primary_key=True),
        sa.Column("holder", sa.String(44), primary_key=True),
        sa.Column("import_base_units", sa.BigInteger(), nullable=False),
        sa.Column("eligible_base_units", sa.BigInteger(), nullable=False),
        sa.Column("approved_base_units", sa.BigInteger(), nullable=False),
        sa.Column("matched_base_units", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("job_key", sa.Text(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
    )
    op.create_index("ix_retirements_holder_epoch", "retirements", ["holder", "epoch"])
    op.create_table(
        "certificates",
        sa.Column("epoch", sa.BigInteger(), primary_key=True),
        sa.Column("holder", sa.String(44), primary_key=True),
        sa.Column("production_epoch", sa.BigInteger(), primary_key=True),
        sa.Column("meter", sa.String(109), primary_key=True),
        sa.Column("base_units", sa.BigInteger(), nullable=False),
        sa.Column("leaf", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.UniqueConstraint("leaf", name="uq_certificates_leaf"),
    )
    op.create_index("ix_certificates_holder_epoch", "certificates", ["holder", "epoch"])


def downgrade() -> None:
    op.drop_index("ix_certificates_holder_epoch", table_name="certificates")
    op.drop_table("certificates")
    op.drop_index("ix_retirements_holder_epoch", table_name="retirements")
    op.drop_table("retirements")
    op.drop_table("retirement_runs")
    op.drop_table("lot_sources")
    op.drop_table("energy_lots")
