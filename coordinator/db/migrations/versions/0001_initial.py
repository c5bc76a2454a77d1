"""Devices, meters, accepted readings and rejected readings.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "revoked", name="device_status"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("gateway_id", name="pk_devices"),
    )
    op.create_table(
        "meters",
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("rated_power_w", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(44), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["devices.gateway_id"], name="fk_meters_gateway_id_devices"
        ),
        sa.PrimaryKeyConstraint("gateway_id", "meter_id", name="pk_meters"),
    )
    op.create_table(
        "readings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
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
    op.create_table(
        "rejected_readings",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("gateway_id", sa.String(44), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rejected_readings"),
    )
    op.create_index("ix_rejected_readings_received_at", "rejected_readings", ["received_at"])
    op.create_index("ix_rejected_readings_reason", "rejected_readings", ["reason"])


def downgrade() -> None:
    op.drop_table("rejected_readings")
    op.drop_index("ix_readings_meter_ts", table_name="readings")
    op.drop_table("readings")
    op.drop_table("meters")
    op.drop_table("devices")
    sa.Enum(name="device_status").drop(op.get_bind(), checkfirst=True)
