"""Oracle: partitioned readings, exact dedup, oracle state, epochs (issue 5).

`readings` from 0001 is replaced (nothing was deployed with it):
- PostgreSQL with TimescaleDB available: a hypertable on `meter_time`;
- PostgreSQL otherwise: range-partitioned by `meter_time` (monthly
  partitions managed by `coordinator.db.partitions`, plus a default partition);
- SQLite (embedded demo): a plain table.
A unique constraint on a partitioned table must include the partition key,
so (gateway_id, seq) dedup is exact through the small `reading_seqs` table.

Revision ID: 0003_oracle
Revises: 0002_enrolment
Create Date: 2026-11-25
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from coordinator.db.partitions import ensure_partitions

revision: str = "0003_oracle"
down_revision: str | None = "0002_enrolment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_READING_COLUMNS = """
    gateway_id varchar(44) NOT NULL,
    seq bigint NOT NULL,
    meter_time timestamptz NOT NULL,
    meter_id varchar(64) NOT NULL,
    meter_ts bigint NOT NULL,
    import_wh bigint NOT NULL,
    export_wh bigint NOT NULL,
    signature bytea NOT NULL,
    received_at timestamptz NOT NULL,
    flags varchar(64) NOT NULL DEFAULT '',
    epoch bigint NOT NULL,
    first_open_epoch bigint,
    CONSTRAINT pk_readings PRIMARY KEY (gateway_id, seq, meter_time)
"""


def _timescale_available(bind: sa.Connection) -> bool:
    row = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    return row is not None


def _readings_postgresql(bind: sa.Connection) -> None:
    if _timescale_available(bind):
        op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        op.execute(f"CREATE TABLE readings ({_READING_COLUMNS})")
        op.execute(
            "SELECT create_hypertable('readings', 'meter_time', "
            "chunk_time_interval => interval '7 days')"
        )
    else:
        op.execute(f"CREATE TABLE readings ({_READING_COLUMNS}) PARTITION BY RANGE (meter_time)")
        op.execute("CREATE TABLE readings_default PARTITION OF readings DEFAULT")
    op.create_index("ix_readings_meter_time", "readings", ["gateway_id", "meter_id", "meter_time"])
    op.create_index("ix_readings_epoch", "readings", ["epoch"])
    if not _timescale_available(bind):
        ensure_partitions(bind, dt.datetime.now(dt.UTC))


def _readings_sqlite() -> None:
    op.create_table(
        "readings",
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("meter_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("meter_ts", sa.BigInteger(), nullable=False),
        sa.Column("import_wh", sa.BigInteger(), nullable=False),
        sa.Column("export_wh", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flags", sa.String(64), nullable=False, server_default=""),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("first_open_epoch", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("gateway_id", "seq", "meter_time", name="pk_readings"),
    )
    op.create_index("ix_readings_meter_time", "readings", ["gateway_id", "meter_id", "meter_time"])
    op.create_index("ix_readings_epoch", "readings", ["epoch"])


def upgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_readings_meter_ts", table_name="readings")
    op.drop_table("readings")
    if bind.dialect.name == "postgresql":
        _readings_postgresql(bind)
    else:
        _readings_sqlite()
    op.create_table(
        "reading_seqs",
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("meter_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "seq", name="pk_reading_seqs"),
    )
    op.create_index("ix_reading_seqs_meter_time", "reading_seqs", ["meter_time"])
    op.create_table(
        "meter_state",
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("meter_ts", sa.BigInteger(), nullable=False),
        sa.Column("import_wh", sa.BigInteger(), nullable=False),
        sa.Column("export_wh", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "meter_id", name="pk_meter_state"),
    )
    op.create_table(
        "gateway_state",
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("highest_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", name="pk_gateway_state"),
    )
    op.create_table(
        "meter_epoch_energy",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("import_wh", sa.BigInteger(), nullable=False),
        sa.Column("export_wh", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", "gateway_id", "meter_id", name="pk_meter_epoch_energy"),
    )
    op.create_table(
        "epochs",
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("length_s", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reading_count", sa.BigInteger(), nullable=False),
        sa.Column("total_import_wh", sa.BigInteger(), nullable=False),
        sa.Column("total_export_wh", sa.BigInteger(), nullable=False),
        sa.Column("mint_base_units", sa.BigInteger(), nullable=False),
        sa.Column("merkle_root", sa.LargeBinary(32), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("epoch", name="pk_epochs"),
    )


def downgrade() -> None:
    for table in ("epochs", "meter_epoch_energy", "gateway_state", "meter_state", "reading_seqs"):
        op.drop_table(table)
    op.execute(
        "DROP TABLE readings CASCADE"
        if op.get_bind().dialect.name == "postgresql"
        else "DROP TABLE readings"
    )
    op.create_table(
        "readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("meter_ts", sa.BigInteger(), nullable=False),
        sa.Column("import_wh", sa.BigInteger(), nullable=False),
        sa.Column("export_wh", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_readings"),
        sa.UniqueConstraint("gateway_id", "seq", name="uq_readings_gateway_id"),
    )
    op.create_index("ix_readings_meter_ts", "readings", ["gateway_id", "meter_id", "meter_ts"])
