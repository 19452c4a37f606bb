"""Read-side queries over the register (no writes): feed pages, cases, summary counts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemas.events import FeedEntry
from services.info_share.feed import feed_entry
from services.info_share.register.tables import CaseRow, LedgerRow, ReferralRow, ReportRow
from services.reference.loader import ReferenceData


def feed_page(session: Session, reference: ReferenceData, after: int, limit: int) -> list[FeedEntry]:
    """Entries with sequence > ``after`` in order: the cursor is the last sequence seen, so no gaps, no repeats."""
    rows = session.scalars(select(LedgerRow).where(LedgerRow.sequence > after)
                           .order_by(LedgerRow.sequence).limit(limit)).all()
    cases = {c.case_id: c for c in session.scalars(
        select(CaseRow).where(CaseRow.case_id.in_({r.case_id for r in rows})))}
    return [feed_entry(row, cases[row.case_id], reference) for row in rows]


def summary(session: Session) -> dict[str, object]:
    reports = session.scalar(select(func.count()).select_from(ReportRow)) or 0
    merged = session.scalar(select(func.count()).select_from(ReportRow).where(ReportRow.merge_rule.is_not(None))) or 0
    by_body = dict(session.execute(select(ReferralRow.body_id, func.count()).group_by(ReferralRow.body_id)).all())
    by_rule = dict(session.execute(select(CaseRow.routing_rule, func.count()).group_by(CaseRow.routing_rule)).all())
    return {
        "cases": session.scalar(select(func.count()).select_from(CaseRow)) or 0,
        "reports": reports,
        "duplicates_merged": merged,
        "referrals": sum(by_body.values()),
        "referrals_by_body": by_body,
        "cases_by_routing_rule": by_rule,
        "ledger_events": session.scalar(select(func.count()).select_from(LedgerRow)) or 0,
    }


def case_view(session: Session, case_id: str) -> dict[str, object] | None:
    case = session.get(CaseRow, case_id)
    if case is None:
        return None
    timeline = session.scalars(select(LedgerRow).where(LedgerRow.case_id == case_id)
                               .order_by(LedgerRow.sequence)).all()
    referrals = session.scalars(select(ReferralRow).where(ReferralRow.case_id == case_id)).all()
    # Allow-list of public fields: no description, reporter, subjects.
    return {
        "case_id": case.case_id, "county_code": case.county_code, "township_code": case.township_code,
        "category_code": case.category_code, "status": case.status, "lead_body_id": case.lead_body_id,
        "routing_rule": case.routing_rule, "report_count": case.report_count,
        "opened_at": case.opened_at.isoformat(), "previous_case_id": case.previous_case_id,
        "referrals": [{"referral_id": r.referral_id, "body_id": r.body_id, "state": r.state,
                       "attempt": r.attempt, "accept_by": r.accept_by.isoformat()} for r in referrals],
        "timeline": [{"sequence": e.sequence, "event": e.event, "occurred_at": e.occurred_at.isoformat()}
                     for e in timeline],
    }
