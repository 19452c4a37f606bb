"""Related cases: other matters at the same place, each its own case with its own lead (docs/dedup.md).

Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "case_links",
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("related_case_id", sa.String(64), primary_key=True),
        sa.Column("since_sequence", sa.Integer(), nullable=False),
    )
    op.create_index("ix_case_links_related_case_id", "case_links", ["related_case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_links_related_case_id", table_name="case_links")
    op.drop_table("case_links")
