"""Register tables. Rows are written only by ``projection.apply_event``; the ledger is the source of the feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LedgerRow(Base):
    """Every applied case event, in order, hash-chained: sequence is the feed cursor."""

    __tablename__ = "ledger"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseRow(Base):
    __tablename__ = "cases"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    category_code: Mapped[str] = mapped_column(String(64), index=True)
    dedup_group: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    lead_body_id: Mapped[str] = mapped_column(String(80), index=True)
    routing_rule: Mapped[str] = mapped_column(String(40))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    previous_case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReportRow(Base):
    __tablename__ = "reports"
    finding_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    reporter: Mapped[str] = mapped_column(String(128))
    township_code: Mapped[str] = mapped_column(String(9))
    category_code: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text)
    subjects: Mapped[list] = mapped_column(JSON)
    merge_rule: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReferralRow(Base):
    __tablename__ = "referrals"
    referral_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    body_id: Mapped[str] = mapped_column(String(80), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accept_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    routing_rule: Mapped[str] = mapped_column(String(40))
    routing_detail: Mapped[str] = mapped_column(Text)
