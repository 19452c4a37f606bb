"""Status of a finding for the one who filed it: accepted (on the topic) or registered, with its case."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.common.privacy import mask_text
from services.patrol.domain.idempotency import KeyRecord
from services.patrol.domain.register import CaseSnapshot, Registered, duplicate_of, pending_deadline
from services.reference.loader import ReferenceData


class RoutingView(BaseModel):
    rule: str = Field(description="delegated_to_township, county_department, dispatched_agency, no_competent_body")
    item_codes: list[str] = Field(default_factory=list, description="Power-list items that decided the routing")
    catalogue_version: str = ""
    detail: str = ""


class ReferralView(BaseModel):
    referral_id: str
    body_id: str
    body_name: str
    attempt: int
    state: str
    accept_by: datetime = Field(description="Deadline to accept or return the referral")


class CaseView(BaseModel):
    case_id: str
    status: str = Field(description="open, referred, handling_locally, accepted, returned, handling, "
                                    "result_fed_back, verified, closed")
    lead_body_id: str
    lead_body_name: str
    opened_at: datetime
    updated_at: datetime
    report_count: int
    duplicate_of: str | None = Field(None, description="Finding that opened the case, when this one was merged")
    merge_rule: str | None = None
    previous_case_id: str | None = Field(None, description="Closed case at the same place this one recurs")
    expected_at: datetime | None = Field(None, description="Deadline of the referral awaiting an answer")
    routing: RoutingView | None = None
    referrals: list[ReferralView] = Field(default_factory=list)


class FindingStatusView(BaseModel):
    finding_id: str
    client_report_id: str | None = Field(None, description="Known while the idempotency record is kept")
    state: Literal["accepted", "registered"] = Field(
        description="accepted: on the findings topic, not yet in the case register; registered: part of a case")
    township_code: str
    category_code: str
    received_at: datetime | None = None
    case: CaseView | None = None


def body_name(reference: ReferenceData, body_id: str) -> str:
    try:
        return reference.body(body_id).name
    except KeyError:
        return body_id


def finding_status(finding_id: str, registered: Registered | None, record: KeyRecord | None,
                   reference: ReferenceData) -> FindingStatusView | None:
    """The view, or None when neither the register nor the idempotency store knows the finding."""
    if registered is not None:
        report, case = registered
        return FindingStatusView(
            finding_id=finding_id, client_report_id=record.client_report_id if record else None, state="registered",
            township_code=report.township_code, category_code=report.category_code, received_at=report.received_at,
            case=_case_view(case, duplicate_of(report, case), report.merge_rule, reference))
    if record is not None:
        return FindingStatusView(finding_id=finding_id, client_report_id=record.client_report_id, state="accepted",
                                 township_code=record.township_code, category_code=record.category_code,
                                 received_at=record.claimed_at)
    return None


def _case_view(case: CaseSnapshot, duplicate: str | None, merge_rule: str | None,
               reference: ReferenceData) -> CaseView:
    routing = case.routing
    return CaseView(
        case_id=case.case_id, status=case.status, lead_body_id=case.lead_body_id,
        lead_body_name=body_name(reference, case.lead_body_id), opened_at=case.opened_at, updated_at=case.updated_at,
        report_count=case.report_count, duplicate_of=duplicate, merge_rule=merge_rule,
        previous_case_id=case.previous_case_id, expected_at=pending_deadline(case),
        routing=RoutingView(rule=routing.rule, item_codes=list(routing.item_codes),
                            catalogue_version=routing.catalogue_version,
                            detail=mask_text(routing.detail)) if routing else None,
        referrals=[ReferralView(referral_id=r.referral_id, body_id=r.body_id, body_name=body_name(reference, r.body_id),
                                attempt=r.attempt, state=r.state, accept_by=r.accept_by) for r in case.referrals],
    )
