"""Patrol's read-model tables: one JSON document per case and per report, with the columns the queries filter on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CaseViewRow(Base):
    __tablename__ = "patrol_cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # services.patrol.domain.register.CaseSnapshot


class ReportViewRow(Base):
    __tablename__ = "patrol_reports"

    finding_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    category_code: Mapped[str] = mapped_column(String(64))
    # UTC, ISO 8601 with a fixed width: sorts and compares as text on SQLite and PostgreSQL alike.
    received_utc: Mapped[str] = mapped_column(String(32), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # services.patrol.domain.register.ReportSnapshot


class CaseLinkViewRow(Base):
    """Another matter at the same place (both directions are kept: either case shows the other)."""

    __tablename__ = "patrol_case_links"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    related_case_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class AppliedEventRow(Base):
    """Every case event applied, so a redelivered or replayed one changes nothing."""

    __tablename__ = "patrol_applied_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
