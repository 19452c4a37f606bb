"""Register tables. Rows are written only by ``projection.apply_event``; the ledger is the source of the feed.

The schema is created and changed by Alembic (``register/migrations``), never by ``create_all``; a change here needs
a new revision (``alembic -c services/info_share/adapters/register/alembic.ini revision --autogenerate -m ...``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.info_share.adapters.register.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class LedgerRow(Base):
    """Every applied case event, in order, hash-chained: sequence is the feed cursor.

    The columns after ``hash`` are what the feed shows and filters on, fixed when the event was applied (the status
    is the case's status just after this event), so a feed page reads the same however late it is fetched.
    """

    __tablename__ = "ledger"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    category_code: Mapped[str] = mapped_column(String(64), index=True)
    body_id: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)


class CaseRow(Base):
    __tablename__ = "cases"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    opened_sequence: Mapped[int] = mapped_column(Integer, unique=True)  # ledger sequence of CaseOpened: list cursor
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    category_code: Mapped[str] = mapped_column(String(64), index=True)
    dedup_group: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    lead_body_id: Mapped[str] = mapped_column(String(80), index=True)
    routing_rule: Mapped[str] = mapped_column(String(40))
    latitude: Mapped[float] = mapped_column(Float, index=True)
    longitude: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    previous_case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CasePartyRow(Base):
    """Bodies entitled to see a case in full (see domain.audience.PartyRole)."""

    __tablename__ = "case_parties"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), primary_key=True)
    body_id: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    since_sequence: Mapped[int] = mapped_column(Integer)


class CaseLinkRow(Base):
    """Two cases at the same place that are different matters, each with its own lead; stored both ways."""

    __tablename__ = "case_links"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), primary_key=True)
    related_case_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    since_sequence: Mapped[int] = mapped_column(Integer)


class ReportRow(Base):
    __tablename__ = "reports"
    finding_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)  # the ledger entry that brought it
    source: Mapped[str] = mapped_column(String(32))
    reporter: Mapped[str] = mapped_column(String(128))
    township_code: Mapped[str] = mapped_column(String(9))
    category_code: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    observed_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column()
    description: Mapped[str] = mapped_column(Text)
    subjects: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    photos: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    merge_rule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)


class ReferralRow(Base):
    __tablename__ = "referrals"
    referral_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    body_id: Mapped[str] = mapped_column(String(80), index=True)
    co_body_ids: Mapped[list[str]] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(index=True)
    accept_by: Mapped[datetime] = mapped_column()
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    routing_rule: Mapped[str] = mapped_column(String(40))
    routing_detail: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    fed_back_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    overdue_at: Mapped[datetime | None] = mapped_column(nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    designated: Mapped[bool] = mapped_column(Boolean, default=False)  # named by coordination: cannot be returned
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    feedback_by: Mapped[datetime | None] = mapped_column(nullable=True)  # set by a rework
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    return_reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_body_id: Mapped[str | None] = mapped_column(String(80), nullable=True)  # a decided dispute's choice


class TransitionRow(Base):
    """Every lifecycle transition of a referral, as dispatch validated it."""

    __tablename__ = "transitions"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    body_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column()
    actor_body_id: Mapped[str | None] = mapped_column(String(80), nullable=True)  # who acted (township for close)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the person or system, from its token
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    response_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    designated_body_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    due_by: Mapped[datetime | None] = mapped_column(nullable=True)
    evidence: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    stated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OrphanEventRow(Base):
    """A case event for a case the register does not have (a rejected response naming an unknown case).

    Kept for the record but outside the ledger: it belongs to no township, so it has no place in the feed, and the
    ledger order must stay exactly what the feed topic records (see rebuild.py).
    """

    __tablename__ = "orphan_events"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
