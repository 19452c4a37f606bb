"""Patrol's own view of each case, built from the case events alone (no other service's tables).

Each event type has one handler in ``HANDLERS``; a handler takes the case as patrol last saw it and gives it back as
it is after the event, with the report it adds (an opening or a merged finding), if any. Pure: the store
(``adapters/case_views.py``) keeps what the handlers return, and the read side fills in ``related`` from the cases it
holds at the time it is asked, so another case's status is never stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from schemas.events import (
    CaseEvent,
    CaseOpened,
    CaseTransitioned,
    FindingMerged,
    FindingReported,
    ReferralIssued,
    ReferralOverdue,
    ResponseRejected,
    RoutingExplanation,
)
from services.common.deadlines import extended_accept_by
from services.common.lifecycle import CASE_OPEN, Action, State, case_status_after, case_status_on_issue
from services.common.projection import NotApplicable
from services.patrol.domain.register import CaseSnapshot, ReferralSnapshot, ReportSnapshot, RoutingSnapshot


@dataclass(frozen=True)
class Change:
    case: CaseSnapshot
    report: ReportSnapshot | None = None  # a finding that joined the view with this event
    related_case_ids: tuple[str, ...] = ()  # other matters at the same place this event names


def apply(case: CaseSnapshot | None, event: CaseEvent) -> Change | None:
    """The case after ``event`` (``case`` is None before its CaseOpened); None when there is nothing to keep."""
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise NotApplicable(f"{type(event).__name__} is not a case event")
    if case is None and isinstance(event, ResponseRejected):
        return None  # dispatch refused a response naming a case it does not know either: no case to show
    if case is None and not isinstance(event, CaseOpened):
        raise NotApplicable(f"{event.event} for case {event.case_id}, which patrol has not seen opened")
    change = handler(case, event)
    return replace(change, case=replace(change.case, updated_at=max(change.case.updated_at, event.occurred_at)))


def _opened(case: CaseSnapshot | None, event: CaseOpened) -> Change:
    if case is not None:
        raise NotApplicable(f"case {event.case_id} was already opened by another event")
    finding = event.finding
    opened = CaseSnapshot(
        case_id=event.case_id, county_code=finding.county_code, township_code=finding.township_code,
        category_code=finding.category_code, status=CASE_OPEN, lead_body_id=event.lead_body_id,
        opened_at=event.occurred_at, updated_at=event.occurred_at, report_count=1,
        opening_finding_id=finding.finding_id, previous_case_id=event.previous_case_id,
        routing=_routing(event.routing),
    )
    return Change(opened, _report(event.case_id, finding, None),
                  tuple(related.case_id for related in event.related_cases))


def _merged(case: CaseSnapshot, event: FindingMerged) -> Change:
    return Change(replace(case, report_count=case.report_count + 1), _report(case.case_id, event.finding, event.rule))


def _issued(case: CaseSnapshot, event: ReferralIssued) -> Change:
    if any(r.referral_id == event.referral_id for r in case.referrals):
        raise NotApplicable(f"referral {event.referral_id} was already issued by another event")
    referral = ReferralSnapshot(referral_id=event.referral_id, body_id=event.body_id, attempt=event.attempt,
                                state=State.ISSUED.value, issued_at=event.occurred_at, accept_by=event.accept_by)
    return Change(replace(case, status=case_status_on_issue(event.body_id), lead_body_id=event.body_id,
                          routing=_routing(event.routing), referrals=(*case.referrals, referral)))


def _transitioned(case: CaseSnapshot, event: CaseTransitioned) -> Change:
    referrals = tuple(_moved(r, event) if r.referral_id == event.referral_id else r for r in case.referrals)
    closing_note = event.reason if event.action == Action.CLOSE.value else case.closing_note
    return Change(replace(case, referrals=referrals, status=case_status_after(event.to_state, case.status),
                          closing_note=closing_note))


def _moved(referral: ReferralSnapshot, event: CaseTransitioned) -> ReferralSnapshot:
    accept_by = referral.accept_by
    if event.action == Action.EXTEND.value:
        # Events from before CaseTransitioned carried the new deadline have none: recompute those.
        accept_by = event.accept_by or extended_accept_by(referral.issued_at, referral.accept_by)
    return replace(referral, state=event.to_state, accept_by=accept_by)


def _unchanged(case: CaseSnapshot, _event: Any) -> Change:
    # An overdue notice or a refused response changes nothing patrol shows, only the case's last update.
    return Change(case)


def _routing(routing: RoutingExplanation) -> RoutingSnapshot:
    return RoutingSnapshot(rule=routing.rule, item_codes=tuple(routing.item_codes),
                           catalogue_version=routing.catalogue_version, detail=routing.detail)


def _report(case_id: str, finding: FindingReported, merge_rule: str | None) -> ReportSnapshot:
    return ReportSnapshot(
        finding_id=finding.finding_id, case_id=case_id, source=finding.source.value, reporter=finding.reporter,
        township_code=finding.township_code, category_code=finding.category_code,
        latitude=finding.location.latitude, longitude=finding.location.longitude, observed_at=finding.observed_at,
        received_at=finding.received_at, description=finding.description, merge_rule=merge_rule,
        address=finding.location.address, photo_uris=tuple(str(photo.uri) for photo in finding.photos),
    )


HANDLERS: dict[type, Callable[[Any, Any], Change]] = {
    CaseOpened: _opened,
    FindingMerged: _merged,
    ReferralIssued: _issued,
    CaseTransitioned: _transitioned,
    ReferralOverdue: _unchanged,
    ResponseRejected: _unchanged,
}
