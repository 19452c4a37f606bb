"""The whole lifecycle: who acted and how, rework and dispute decisions, designated referrals.

Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("referrals") as table:
        table.add_column(sa.Column("designated", sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("started_at", TIME, nullable=True))
        table.add_column(sa.Column("verified_at", TIME, nullable=True))
        table.add_column(sa.Column("feedback_by", TIME, nullable=True))
        table.add_column(sa.Column("reworks", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("return_reason_code", sa.String(32), nullable=True))
        table.add_column(sa.Column("decided_body_id", sa.String(80), nullable=True))
    with op.batch_alter_table("transitions") as table:
        table.add_column(sa.Column("actor_body_id", sa.String(80), nullable=True))
        table.add_column(sa.Column("actor", sa.String(128), nullable=True))
        table.add_column(sa.Column("channel", sa.String(16), nullable=True))
        table.add_column(sa.Column("response_id", sa.String(128), nullable=True))
        table.add_column(sa.Column("reason_code", sa.String(32), nullable=True))
        table.add_column(sa.Column("designated_body_id", sa.String(80), nullable=True))
        table.add_column(sa.Column("due_by", TIME, nullable=True))
        table.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        table.add_column(sa.Column("stated_at", TIME, nullable=True))
        table.create_index("ix_transitions_response_id", ["response_id"])


def downgrade() -> None:
    with op.batch_alter_table("transitions") as table:
        table.drop_index("ix_transitions_response_id")
        for column in ("stated_at", "evidence", "due_by", "designated_body_id", "reason_code", "response_id",
                       "channel", "actor", "actor_body_id"):
            table.drop_column(column)
    with op.batch_alter_table("referrals") as table:
        for column in ("decided_body_id", "return_reason_code", "reworks", "feedback_by", "verified_at",
                       "started_at", "designated"):
            table.drop_column(column)
