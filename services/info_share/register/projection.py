"""Apply one case event to the register, exactly once per event_id, and chain it into the ledger."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemas.events import (
    CaseOpened,
    CaseTransitioned,
    FindingMerged,
    FindingReported,
    ReferralIssued,
    ResponseRejected,
    WireModel,
)
from services.info_share.register.tables import CaseRow, LedgerRow, ReferralRow, ReportRow

GENESIS_HASH = "0" * 64
CaseEvent = CaseOpened | FindingMerged | ReferralIssued | CaseTransitioned | ResponseRejected

# What a referral transition does to the case's status as the feed shows it.
CASE_STATUS_AFTER = {
    "accepted": "accepted", "returned": "returned", "handling": "handling",
    "result_fed_back": "result_fed_back", "verified": "verified", "closed": "closed",
}


def chain_hash(sequence: int, event_id: str, payload: dict, prev_hash: str) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{sequence}\x1f{event_id}\x1f{prev_hash}\x1f{canonical}".encode()).hexdigest()


def apply_event(session: Session, event: CaseEvent) -> tuple[LedgerRow, bool]:
    """Apply ``event`` in the caller's transaction; returns its ledger row and whether it was new."""
    existing = session.scalar(select(LedgerRow).where(LedgerRow.event_id == event.event_id))
    if existing is not None:
        return existing, False  # redelivered or replayed: nothing changes
    _project(session, event)
    head = session.execute(select(LedgerRow.sequence, LedgerRow.hash)
                           .order_by(LedgerRow.sequence.desc()).limit(1)).first()
    sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    payload = event.model_dump(mode="json")
    row = LedgerRow(sequence=sequence, event_id=event.event_id, event=event.event, case_id=event.case_id,
                    occurred_at=event.occurred_at, payload=payload, prev_hash=prev_hash,
                    hash=chain_hash(sequence, event.event_id, payload, prev_hash))
    session.add(row)
    session.flush()
    return row, True


def _project(session: Session, event: WireModel) -> None:
    if isinstance(event, CaseOpened):
        f = event.finding
        session.add(CaseRow(
            case_id=event.case_id, county_code=f.county_code, township_code=f.township_code,
            category_code=f.category_code, dedup_group=event.dedup_group, status="open",
            lead_body_id=event.lead_body_id, routing_rule=event.routing.rule, latitude=f.location.latitude,
            longitude=f.location.longitude, opened_at=event.occurred_at, updated_at=event.occurred_at,
            report_count=1, previous_case_id=event.previous_case_id,
        ))
        session.flush()
        session.add(_report(event.case_id, f, None))
    elif isinstance(event, FindingMerged):
        case = _case(session, event.case_id)
        case.report_count += 1
        case.updated_at = max(_naive(case.updated_at), _naive(event.occurred_at))
        session.add(_report(event.case_id, event.finding, event.rule))
    elif isinstance(event, ReferralIssued):
        case = _case(session, event.case_id)
        case.status = "referred" if not event.body_id.startswith("township:") else "handling_locally"
        case.lead_body_id = event.body_id
        session.add(ReferralRow(
            referral_id=event.referral_id, case_id=event.case_id, body_id=event.body_id, attempt=event.attempt,
            state="issued", issued_at=event.occurred_at, accept_by=event.accept_by,
            routing_rule=event.routing.rule, routing_detail=event.routing.detail,
        ))
    elif isinstance(event, CaseTransitioned):
        case = _case(session, event.case_id)
        referral = session.get(ReferralRow, event.referral_id)
        if referral is not None:
            referral.state = event.to_state
        case.status = CASE_STATUS_AFTER.get(event.to_state, case.status)
        case.updated_at = event.occurred_at
    # ResponseRejected changes no state: it is kept in the ledger only, for the record.


def _case(session: Session, case_id: str) -> CaseRow:
    case = session.get(CaseRow, case_id)
    if case is None:
        # Case events share the case_id key, so CaseOpened always precedes the others on its partition.
        raise LookupError(f"case {case_id} is not in the register")
    return case


def _report(case_id: str, finding: FindingReported, rule: str | None) -> ReportRow:
    return ReportRow(
        finding_id=finding.finding_id, case_id=case_id, source=finding.source.value, reporter=finding.reporter,
        township_code=finding.township_code, category_code=finding.category_code,
        latitude=finding.location.latitude, longitude=finding.location.longitude,
        observed_at=finding.observed_at, received_at=finding.received_at, description=finding.description,
        subjects=[s.model_dump() for s in finding.subjects], merge_rule=rule,
    )


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def ledger_size(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(LedgerRow)) or 0)
