"""Enrolment tokens, broker credentials and device key rotations (issue 4).

Revision ID: 0002_enrolment
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_enrolment"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "enrolment_tokens",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(44), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("used_at", Stamp, nullable=True),
        sa.Column("used_by", sa.String(44), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_enrolment_tokens_token_hash"),
    )
    op.create_table(
        "broker_credentials",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("gateway_id", sa.String(44), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("revoked_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("username", name="pk_broker_credentials"),
    )
    op.create_index("ix_broker_credentials_gateway_id", "broker_credentials", ["gateway_id"])
    op.create_table(
        "key_rotations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("gateway_id", sa.String(44), nullable=False),
        sa.Column("old_key", sa.LargeBinary(32), nullable=False),
        sa.Column("new_key", sa.LargeBinary(32), nullable=False),
        sa.Column("rotated_at", Stamp, nullable=False),
        sa.Column("old_valid_until", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["devices.gateway_id"], name="fk_key_rotations_gateway_id_devices"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_key_rotations"),
    )
    op.create_index("ix_key_rotations_gateway", "key_rotations", ["gateway_id", "old_valid_until"])


def downgrade() -> None:
    op.drop_index("ix_key_rotations_gateway", table_name="key_rotations")
    op.drop_table("key_rotations")
    op.drop_index("ix_broker_credentials_gateway_id", table_name="broker_credentials")
    op.drop_table("broker_credentials")
    op.drop_table("enrolment_tokens")
