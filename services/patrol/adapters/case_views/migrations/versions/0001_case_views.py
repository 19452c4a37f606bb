"""Patrol's read model of the case events.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patrol_cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
    )
    op.create_table(
        "patrol_reports",
        sa.Column("finding_id", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("township_code", sa.String(9), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("received_utc", sa.String(32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
    )
    op.create_index("ix_patrol_reports_case_id", "patrol_reports", ["case_id"])
    op.create_index("ix_patrol_reports_township_code", "patrol_reports", ["township_code"])
    op.create_index("ix_patrol_reports_received_utc", "patrol_reports", ["received_utc"])
    op.create_table(
        "patrol_case_links",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("related_case_id", sa.String(64), primary_key=True),
    )
    op.create_table("patrol_applied_events", sa.Column("event_id", sa.String(128), primary_key=True))


def downgrade() -> None:
    for table in ("patrol_applied_events", "patrol_case_links", "patrol_reports", "patrol_cases"):
        op.drop_table(table)
