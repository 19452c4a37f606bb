"""Apply one case event to the register, exactly once per event_id, and chain it into the ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemas.events import (
    CaseEvent,
    CaseOpened,
    CaseTransitioned,
    FindingMerged,
    FindingReported,
    ReferralIssued,
    ReferralOverdue,
    ResponseRejected,
)
from services.common.deadlines import extended_accept_by
from services.common.lifecycle import CASE_CLOSED, CASE_OPEN, case_status_after, case_status_on_issue
from services.common.projection import NotApplicable
from services.info_share.adapters.register.tables import (
    CaseLinkRow,
    CasePartyRow,
    CaseRow,
    LedgerRow,
    OrphanEventRow,
    ReferralRow,
    ReportRow,
    TransitionRow,
)
from services.info_share.domain.audience import PartyRole
from services.info_share.domain.ledger import GENESIS_HASH, chain_hash
from services.reference.loader import township_office_id


@dataclass(frozen=True)
class Applied:
    outcome: Literal["applied", "duplicate", "orphan"]
    row: LedgerRow | None  # the ledger entry (also for a duplicate); None for an orphan


def apply_event(session: Session, event: CaseEvent) -> Applied:
    """Apply ``event`` in the caller's transaction; a redelivered or replayed event changes nothing."""
    existing = session.scalar(select(LedgerRow).where(LedgerRow.event_id == event.event_id))
    if existing is not None:
        return Applied("duplicate", existing)
    if session.get(OrphanEventRow, event.event_id) is not None:
        return Applied("duplicate", None)
    case = session.get(CaseRow, event.case_id)
    if case is None and not isinstance(event, CaseOpened):
        if isinstance(event, ResponseRejected):
            # Dispatch refused a response naming a case it does not know either: worth keeping, not a case event.
            session.add(OrphanEventRow(event_id=event.event_id, event=event.event, case_id=event.case_id,
                                       occurred_at=event.occurred_at, payload=event.model_dump(mode="json")))
            session.flush()
            return Applied("orphan", None)
        # Case events share the case_id key, so CaseOpened precedes the others on its partition: this is a bug.
        raise NotApplicable(f"{event.event} for case {event.case_id}, which is not in the register")
    sequence, prev_hash = _next_link(session)
    case = _project(session, event, case, sequence)
    case.updated_at = max(case.updated_at, event.occurred_at)
    payload = event.model_dump(mode="json")
    row = LedgerRow(
        sequence=sequence, event_id=event.event_id, event=event.event, case_id=event.case_id,
        occurred_at=event.occurred_at.astimezone(UTC), payload=payload, prev_hash=prev_hash,
        hash=chain_hash(sequence, event.event_id, payload, prev_hash),
        county_code=case.county_code, township_code=case.township_code, category_code=case.category_code,
        body_id=getattr(event, "body_id", None) or case.lead_body_id, status=case.status,
    )
    session.add(row)
    session.flush()
    return Applied("applied", row)


def _next_link(session: Session) -> tuple[int, str]:
    # One writer (the info-share worker, concurrency 1): a second one would collide on the sequence primary key.
    head = session.execute(select(LedgerRow.sequence, LedgerRow.hash)
                           .order_by(LedgerRow.sequence.desc()).limit(1)).first()
    return (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)


def _project(session: Session, event: CaseEvent, case: CaseRow | None, sequence: int) -> CaseRow:
    if isinstance(event, CaseOpened):
        if case is not None:
            raise NotApplicable(f"case {event.case_id} was already opened by another event")
        return _open(session, event, sequence)
    assert case is not None
    _HANDLERS[type(event)](session, case, event, sequence)
    return case


def _merge(session: Session, case: CaseRow, event: FindingMerged, sequence: int) -> None:
    case.report_count += 1
    _add_report(session, event.case_id, event.finding, sequence, event.rule, event.distance_m)
    _add_parties(session, case.case_id, sequence, PartyRole.REPORTING_TOWNSHIP,
                 township_office_id(event.finding.township_code))


def _overdue(session: Session, case: CaseRow, event: ReferralOverdue, sequence: int) -> None:
    referral = session.get(ReferralRow, event.referral_id)
    if referral is not None:
        referral.overdue_at = event.occurred_at
    _add_parties(session, case.case_id, sequence, PartyRole.COORDINATION, event.escalated_to)


def _kept_only(_session: Session, _case: CaseRow, _event: ResponseRejected, _sequence: int) -> None:
    """A refused response changes no state: it is kept in the ledger only, for the record."""


def _open(session: Session, event: CaseOpened, sequence: int) -> CaseRow:
    f = event.finding
    case = CaseRow(
        case_id=event.case_id, opened_sequence=sequence, county_code=f.county_code, township_code=f.township_code,
        category_code=f.category_code, dedup_group=event.dedup_group, status=CASE_OPEN,
        lead_body_id=event.lead_body_id, routing_rule=event.routing.rule, latitude=f.location.latitude,
        longitude=f.location.longitude, opened_at=event.occurred_at, updated_at=event.occurred_at,
        report_count=1, previous_case_id=event.previous_case_id,
    )
    session.add(case)
    session.flush()
    _add_report(session, event.case_id, f, sequence, None, None)
    _add_parties(session, case.case_id, sequence, PartyRole.REPORTING_TOWNSHIP, township_office_id(f.township_code))
    _add_parties(session, case.case_id, sequence, PartyRole.LEAD, event.lead_body_id)
    _add_parties(session, case.case_id, sequence, PartyRole.CO_HANDLER, *event.co_body_ids)
    # Both ways, so either case shows the other. Case events are keyed by case, so a related case may reach the
    # register after the case naming it: its link back is made when it opens.
    for related in event.related_cases:
        _link(session, event.case_id, related.case_id, sequence)
        if session.get(CaseRow, related.case_id) is not None:
            _link(session, related.case_id, event.case_id, sequence)
    for earlier in list(session.scalars(select(CaseLinkRow.case_id)
                                        .where(CaseLinkRow.related_case_id == event.case_id))):
        _link(session, event.case_id, earlier, sequence)
    return case


def _link(session: Session, case_id: str, related_case_id: str, sequence: int) -> None:
    if case_id != related_case_id and session.get(CaseLinkRow, (case_id, related_case_id)) is None:
        session.add(CaseLinkRow(case_id=case_id, related_case_id=related_case_id, since_sequence=sequence))


def _issue(session: Session, case: CaseRow, event: ReferralIssued, sequence: int) -> None:
    if session.get(ReferralRow, event.referral_id) is not None:
        raise NotApplicable(f"referral {event.referral_id} was already issued by another event")
    case.status = case_status_on_issue(event.body_id)
    case.lead_body_id = event.body_id
    session.add(ReferralRow(
        referral_id=event.referral_id, case_id=event.case_id, body_id=event.body_id,
        co_body_ids=list(event.co_body_ids), attempt=event.attempt, state="issued", issued_at=event.occurred_at,
        accept_by=event.accept_by, extended=False, routing_rule=event.routing.rule,
        routing_detail=event.routing.detail, designated=event.designated, reworks=0,
    ))
    _add_parties(session, case.case_id, sequence, PartyRole.REFERRED, event.body_id)
    _add_parties(session, case.case_id, sequence, PartyRole.CO_HANDLER, *event.co_body_ids)


def _transition(session: Session, case: CaseRow, event: CaseTransitioned, sequence: int) -> None:
    referral = session.get(ReferralRow, event.referral_id)
    if referral is not None:
        referral.state = event.to_state
        at = event.occurred_at
        if event.action == "accept":
            referral.accepted_at = at
        elif event.action == "return":
            referral.returned_at = at
            referral.return_reason_code = event.reason_code.value if event.reason_code else "other"
        elif event.action == "start_handling":
            referral.started_at = at
        elif event.action == "feed_back":
            referral.fed_back_at, referral.outcome = at, event.outcome.value if event.outcome else None
        elif event.action == "verify":
            referral.verified_at = at
        elif event.action == "rework":
            referral.reworks = (referral.reworks or 0) + 1
            referral.feedback_by, referral.verified_at = event.due_by, None
        elif event.action == "decide":
            referral.decided_body_id = event.designated_body_id
        elif event.action == "close":
            referral.closed_at = at
        elif event.action == "extend":
            referral.extended = True
            # Events from before CaseTransitioned carried the new deadline have none: recompute those.
            referral.accept_by = event.accept_by or extended_accept_by(referral.issued_at, referral.accept_by)
    case.status = case_status_after(event.to_state, case.status)
    if case.status == CASE_CLOSED:
        case.closed_at = event.occurred_at
    session.add(TransitionRow(
        sequence=sequence, case_id=event.case_id, referral_id=event.referral_id, body_id=event.body_id,
        action=event.action.value, from_state=event.from_state, to_state=event.to_state, reason=event.reason,
        outcome=event.outcome.value if event.outcome else None, occurred_at=event.occurred_at,
        actor_body_id=event.actor_body_id, actor=event.actor, channel=event.channel.value if event.channel else None,
        response_id=event.response_id, reason_code=event.reason_code.value if event.reason_code else None,
        designated_body_id=event.designated_body_id, due_by=event.due_by, evidence=list(event.evidence) or None,
        stated_at=event.stated_at,
    ))


# Each event kind but CaseOpened (which makes the case row), and what it does to the case's rows.
_HANDLERS: dict[type, Callable[[Session, CaseRow, Any, int], None]] = {
    FindingMerged: _merge,
    ReferralIssued: _issue,
    CaseTransitioned: _transition,
    ReferralOverdue: _overdue,
    ResponseRejected: _kept_only,
}


def _add_report(session: Session, case_id: str, finding: FindingReported, sequence: int, rule: str | None,
                distance_m: float | None) -> None:
    if session.get(ReportRow, finding.finding_id) is not None:
        raise NotApplicable(f"finding {finding.finding_id} is already in the register")
    session.add(ReportRow(
        finding_id=finding.finding_id, case_id=case_id, sequence=sequence, source=finding.source.value,
        reporter=finding.reporter, township_code=finding.township_code, category_code=finding.category_code,
        latitude=finding.location.latitude, longitude=finding.location.longitude, address=finding.location.address,
        observed_at=finding.observed_at, received_at=finding.received_at, description=finding.description,
        subjects=[s.model_dump() for s in finding.subjects], photos=[p.model_dump() for p in finding.photos],
        merge_rule=rule, distance_m=distance_m,
    ))


def _add_parties(session: Session, case_id: str, sequence: int, role: PartyRole, *body_ids: str) -> None:
    for body_id in dict.fromkeys(body_ids):
        if session.get(CasePartyRow, (case_id, body_id, role.value)) is None:
            session.add(CasePartyRow(case_id=case_id, body_id=body_id, role=role.value, since_sequence=sequence))


def ledger_size(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(LedgerRow)) or 0)
