"""Read-side queries over the register (no writes): feed pages, cases, nearby cases, evaluation figures, summary.

Functions take keyword arguments and return rows or plain records; what a caller may see of them is decided by the
API with domain.audience and views.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, select
from sqlalchemy.orm import Session

from services.info_share.adapters.register.tables import (
    CaseLinkRow,
    CasePartyRow,
    CaseRow,
    LedgerRow,
    ReferralRow,
    ReportRow,
    TransitionRow,
)
from services.info_share.domain import evaluation, geo
from services.info_share.domain.audience import PartyRole
from services.info_share.domain.ledger import GENESIS_HASH
from services.reference.loader import ReferenceData

OPEN_EXCLUDED_STATUSES = ("closed",)


@dataclass(frozen=True)
class Filters:
    """What the feed and the case list can be narrowed to; ``department`` is a department code (e.g.
    ``natural_resources``) and matches its county teams and its dispatched agencies."""

    county: str | None = None
    township: str | None = None
    department: str | None = None
    body: str | None = None
    category: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def department_bodies(reference: ReferenceData, department: str) -> list[str]:
    return sorted(b.body_id for b in reference.bodies() if b.department == department)


# -- feed -----------------------------------------------------------------------------------------------------------

def feed_page(session: Session, *, reference: ReferenceData, filters: Filters, after: int,
              limit: int) -> list[LedgerRow]:
    """Entries with sequence > ``after`` in order. The cursor is the last sequence seen, so no gaps, no repeats:
    sequences are given in commit order by the register's single writer, and an entry never changes."""
    query = select(LedgerRow).where(LedgerRow.sequence > after)
    for condition in _feed_conditions(reference, filters):
        query = query.where(condition)
    return list(session.scalars(query.order_by(LedgerRow.sequence).limit(limit)))


def _feed_conditions(reference: ReferenceData, f: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.county:
        conditions.append(LedgerRow.county_code == f.county)
    if f.township:
        conditions.append(LedgerRow.township_code == f.township)
    if f.category:
        conditions.append(LedgerRow.category_code == f.category)
    if f.status:
        conditions.append(LedgerRow.status == f.status)
    if f.body:
        conditions.append(LedgerRow.body_id == f.body)
    if f.department:
        conditions.append(LedgerRow.body_id.in_(department_bodies(reference, f.department)))
    if f.since:
        conditions.append(LedgerRow.occurred_at >= f.since)
    if f.until:
        conditions.append(LedgerRow.occurred_at < f.until)
    return conditions


def head_sequence(session: Session) -> int:
    return int(session.scalar(select(func.max(LedgerRow.sequence))) or 0)


def parties_of(session: Session, case_ids: Collection[str]) -> dict[str, set[str]]:
    parties: dict[str, set[str]] = defaultdict(set)
    if case_ids:
        for case_id, body_id in session.execute(select(CasePartyRow.case_id, CasePartyRow.body_id)
                                                .where(CasePartyRow.case_id.in_(set(case_ids)))):
            parties[case_id].add(body_id)
    return parties


# -- cases ----------------------------------------------------------------------------------------------------------

@dataclass
class CaseBundle:
    case: CaseRow
    parties: list[CasePartyRow] = field(default_factory=list)
    reports: list[ReportRow] = field(default_factory=list)
    referrals: list[ReferralRow] = field(default_factory=list)
    timeline: list[LedgerRow] = field(default_factory=list)
    related: list[CaseRow] = field(default_factory=list)  # other matters at the same place, each its own case

    @property
    def party_ids(self) -> set[str]:
        return {p.body_id for p in self.parties}


def case_bundle(session: Session, *, case_id: str) -> CaseBundle | None:
    case = session.get(CaseRow, case_id)
    if case is None:
        return None
    return CaseBundle(
        case=case,
        parties=list(session.scalars(select(CasePartyRow).where(CasePartyRow.case_id == case_id)
                                     .order_by(CasePartyRow.since_sequence, CasePartyRow.role, CasePartyRow.body_id))),
        reports=list(session.scalars(select(ReportRow).where(ReportRow.case_id == case_id)
                                     .order_by(ReportRow.sequence))),
        referrals=list(session.scalars(select(ReferralRow).where(ReferralRow.case_id == case_id)
                                       .order_by(ReferralRow.attempt))),
        timeline=list(session.scalars(select(LedgerRow).where(LedgerRow.case_id == case_id)
                                      .order_by(LedgerRow.sequence))),
        related=related_cases(session, case_ids=[case_id]).get(case_id, []),
    )


def related_cases(session: Session, *, case_ids: Collection[str]) -> dict[str, list[CaseRow]]:
    """For each case, the related cases (other matters at the same place), in the order they were opened."""
    found: dict[str, list[CaseRow]] = defaultdict(list)
    if case_ids:
        query = (select(CaseLinkRow.case_id, CaseRow).join(CaseRow, CaseRow.case_id == CaseLinkRow.related_case_id)
                 .where(CaseLinkRow.case_id.in_(set(case_ids))).order_by(CaseRow.opened_sequence))
        for case_id, related in session.execute(query):
            found[case_id].append(related)
    return found


def reports_of(session: Session, case_ids: Collection[str]) -> dict[str, list[ReportRow]]:
    found: dict[str, list[ReportRow]] = defaultdict(list)
    if case_ids:
        for report in session.scalars(select(ReportRow).where(ReportRow.case_id.in_(set(case_ids)))
                                      .order_by(ReportRow.sequence)):
            found[report.case_id].append(report)
    return found


def list_cases(session: Session, *, reference: ReferenceData, filters: Filters, after: int, limit: int,
               party_of: Collection[str] | None = None) -> list[CaseRow]:
    """Cases in the order they were opened; the cursor is ``opened_sequence`` of the last case seen."""
    query = _case_query(reference, filters, party_of).where(CaseRow.opened_sequence > after)
    return list(session.scalars(query.order_by(CaseRow.opened_sequence).limit(limit)))


def _case_query(reference: ReferenceData, f: Filters, party_of: Collection[str] | None) -> Select[CaseRow]:
    query = _in_place_and_category(select(CaseRow), f)
    if f.status:
        query = query.where(CaseRow.status == f.status)
    if f.since:
        query = query.where(CaseRow.opened_at >= f.since)
    if f.until:
        query = query.where(CaseRow.opened_at < f.until)
    handlers = [f.body] if f.body else (department_bodies(reference, f.department) if f.department else None)
    if handlers is not None:
        query = query.where(_has_party(handlers, exclude_role=PartyRole.REPORTING_TOWNSHIP))
    if party_of is not None:
        query = query.where(_has_party(party_of))
    return query


def _in_place_and_category(query: Select[CaseRow], f: Filters) -> Select[CaseRow]:
    """``query`` narrowed to the filters' county, township and category (those given)."""
    if f.county:
        query = query.where(CaseRow.county_code == f.county)
    if f.township:
        query = query.where(CaseRow.township_code == f.township)
    if f.category:
        query = query.where(CaseRow.category_code == f.category)
    return query


def _has_party(body_ids: Collection[str], exclude_role: PartyRole | None = None) -> ColumnElement[bool]:
    condition = and_(CasePartyRow.case_id == CaseRow.case_id, CasePartyRow.body_id.in_(list(body_ids)))
    if exclude_role is not None:
        condition = and_(condition, CasePartyRow.role != exclude_role.value)
    return exists().where(condition)


def open_cases_near(session: Session, *, latitude: float, longitude: float, radius_m: float,
                    category: str | None = None, limit: int = 50) -> list[tuple[CaseRow, float]]:
    """Open cases within ``radius_m`` of a point, nearest first (bounding box in SQL, haversine here)."""
    min_lat, max_lat, min_lon, max_lon = geo.bounding_box(latitude, longitude, radius_m)
    query = select(CaseRow).where(CaseRow.latitude.between(min_lat, max_lat),
                                  CaseRow.longitude.between(min_lon, max_lon),
                                  CaseRow.status.not_in(OPEN_EXCLUDED_STATUSES))
    if category:
        query = query.where(CaseRow.category_code == category)
    near = [(case, geo.haversine_m(latitude, longitude, case.latitude, case.longitude))
            for case in session.scalars(query)]
    return sorted(((c, d) for c, d in near if d <= radius_m), key=lambda cd: (cd[1], cd[0].case_id))[:limit]


# -- evaluation figures ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatsScope:
    """Which cases figures are computed over: all, one county's, or those the caller is a party to."""

    all_cases: bool = False
    county: str | None = None
    party_of: frozenset[str] = frozenset()


def figures(session: Session, *, scope: StatsScope, filters: Filters,
            now: datetime) -> tuple[list[evaluation.BodyFigures], list[evaluation.TownshipFigures]]:
    case_query = select(CaseRow)
    if not scope.all_cases:
        case_query = case_query.where(CaseRow.county_code == scope.county) if scope.county else \
            case_query.where(_has_party(scope.party_of))
    case_query = _in_place_and_category(case_query, filters)
    cases = {c.case_id: c for c in session.scalars(case_query)}
    referral_query = select(ReferralRow).where(
        ReferralRow.case_id.in_(case_query.with_only_columns(CaseRow.case_id).scalar_subquery()))
    if filters.since:
        referral_query = referral_query.where(ReferralRow.issued_at >= filters.since)
    if filters.until:
        referral_query = referral_query.where(ReferralRow.issued_at < filters.until)
    referrals = [evaluation.ReferralRecord(
        referral_id=r.referral_id, case_id=r.case_id, body_id=r.body_id,
        township_code=cases[r.case_id].township_code, issued_at=r.issued_at, accept_by=r.accept_by, state=r.state,
        accepted_at=r.accepted_at, returned_at=r.returned_at, closed_at=r.closed_at, fed_back_at=r.fed_back_at,
        extended=r.extended, overdue_at=r.overdue_at, reworks=r.reworks or 0,
    ) for r in session.scalars(referral_query)]
    by_body = evaluation.body_figures(referrals, [_case_record(c) for c in cases.values()], now)
    # A township's figures count the cases opened in the window; a body's, the referrals issued in it.
    by_township = evaluation.township_figures(_case_record(c) for c in cases.values() if _opened_within(c, filters))
    return by_body, by_township


def _opened_within(case: CaseRow, f: Filters) -> bool:
    return (f.since is None or case.opened_at >= f.since) and (f.until is None or case.opened_at < f.until)


def _case_record(c: CaseRow) -> evaluation.CaseRecord:
    return evaluation.CaseRecord(case_id=c.case_id, township_code=c.township_code, status=c.status,
                                 report_count=c.report_count, handled_locally=c.lead_body_id.startswith("township:"))


# -- public summary -------------------------------------------------------------------------------------------------

def summary(session: Session) -> dict[str, Any]:
    """Counts only: open to everyone."""
    reports = session.scalar(select(func.count()).select_from(ReportRow)) or 0
    merged = session.scalar(select(func.count()).select_from(ReportRow).where(ReportRow.merge_rule.is_not(None))) or 0
    by_body = {body: int(n) for body, n in session.execute(
        select(ReferralRow.body_id, func.count()).group_by(ReferralRow.body_id)).tuples()}
    by_rule = {rule: int(n) for rule, n in session.execute(
        select(CaseRow.routing_rule, func.count()).group_by(CaseRow.routing_rule)).tuples()}
    by_status = {status: int(n) for status, n in session.execute(
        select(CaseRow.status, func.count()).group_by(CaseRow.status)).tuples()}
    return {
        "cases": session.scalar(select(func.count()).select_from(CaseRow)) or 0,
        "reports": reports,
        "duplicates_merged": merged,
        "referrals": sum(by_body.values()),
        "referrals_by_body": by_body,
        "cases_by_routing_rule": by_rule,
        "cases_by_status": by_status,
        "ledger_events": head_sequence(session),
    }


def ledger_head(session: Session) -> tuple[int, str]:
    """(sequence, hash) of the last ledger entry; (0, 64 zeros) when the ledger is empty."""
    last = session.execute(select(LedgerRow.sequence, LedgerRow.hash)
                           .order_by(LedgerRow.sequence.desc()).limit(1)).first()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)


def ledger_links(session: Session, *, after: int, limit: int) -> list[tuple[int, str, str]]:
    """(sequence, prev_hash, hash) of the entries after ``after``, in order: the chain without contents."""
    rows = session.execute(select(LedgerRow.sequence, LedgerRow.prev_hash, LedgerRow.hash)
                           .where(LedgerRow.sequence > after).order_by(LedgerRow.sequence).limit(limit))
    return [(int(s), str(p), str(h)) for s, p, h in rows]


def transitions(db: Session, *, case_id: str, referral_id: str | None = None) -> list[TransitionRow]:
    query = select(TransitionRow).where(TransitionRow.case_id == case_id)
    if referral_id is not None:
        query = query.where(TransitionRow.referral_id == referral_id)
    return list(db.scalars(query.order_by(TransitionRow.sequence)))
