"""Oracle: partitioned readings, epochs, attestations (issue 5).

Revision ID: 0003_oracle
Revises: 0002_enrolment
Create Date: 2026-11-25
"""

from collections.abc import Sequence

revision: str = "0003_oracle"
down_revision: str | None = "0002_enrolment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
