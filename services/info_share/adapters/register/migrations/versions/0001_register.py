"""The case register: ledger, cases, their parties, reports, referrals, transitions, orphan events.

Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None

# Stored as UTC (services.info_share.adapters.register.types.UTCDateTime converts on the way in and out).
TIME = sa.DateTime(timezone=True)


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("county_code", sa.String(6), nullable=False),
        sa.Column("township_code", sa.String(9), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("body_id", sa.String(80), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("event_id"),
    )
    _indexes("ledger", "case_id", "county_code", "township_code", "category_code", "body_id", "status")

    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("opened_sequence", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(6), nullable=False),
        sa.Column("township_code", sa.String(9), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("dedup_group", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lead_body_id", sa.String(80), nullable=False),
        sa.Column("routing_rule", sa.String(40), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("previous_case_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
        sa.UniqueConstraint("opened_sequence"),
    )
    _indexes("cases", "county_code", "township_code", "category_code", "status", "lead_body_id", "latitude")

    op.create_table(
        "case_parties",
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("body_id", sa.String(80), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("since_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "body_id", "role"),
    )
    _indexes("case_parties", "body_id")

    op.create_table(
        "reports",
        sa.Column("finding_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("reporter", sa.String(128), nullable=False),
        sa.Column("township_code", sa.String(9), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("observed_at", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("merge_rule", sa.String(64), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("finding_id"),
    )
    _indexes("reports", "case_id")

    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("body_id", sa.String(80), nullable=False),
        sa.Column("co_body_ids", sa.JSON(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("issued_at", TIME, nullable=False),
        sa.Column("accept_by", TIME, nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("routing_rule", sa.String(40), nullable=False),
        sa.Column("routing_detail", sa.Text(), nullable=False),
        sa.Column("accepted_at", TIME, nullable=True),
        sa.Column("returned_at", TIME, nullable=True),
        sa.Column("fed_back_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("overdue_at", TIME, nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    _indexes("referrals", "case_id", "body_id", "issued_at")

    op.create_table(
        "transitions",
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("referral_id", sa.String(64), nullable=False),
        sa.Column("body_id", sa.String(80), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=False),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
    )
    _indexes("transitions", "case_id", "referral_id")

    op.create_table(
        "orphan_events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    _indexes("orphan_events", "case_id")


def downgrade() -> None:
    for table in ("orphan_events", "transitions", "referrals", "reports", "case_parties", "cases", "ledger"):
        op.drop_table(table)
