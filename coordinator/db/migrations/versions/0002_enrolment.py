"""Enrolment tokens and broker credentials (issue 4).

Revision ID: 0002_enrolment
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

revision: str = "0002_enrolment"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
