"""Indexes for the API's reads of one user's data: the meters a wallet owns, and
a meter's energy per epoch (whose key leads with the epoch, so the energy page
scanned the whole table, every meter's every epoch, on each request).

Revision ID: 0014_api_read_indexes
Revises: 0013_tariff_series
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_api_read_indexes"
down_revision: str | None = "0013_tariff_series"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_meters_owner", "meters", ["owner"])
    op.create_index(
        "ix_meter_epoch_energy_meter", "meter_epoch_energy", ["gateway_id", "meter_id", "epoch"]
    )


def downgrade() -> None:
    op.drop_index("ix_meter_epoch_energy_meter", table_name="meter_epoch_energy")
    op.drop_index("ix_meters_owner", table_name="meters")
