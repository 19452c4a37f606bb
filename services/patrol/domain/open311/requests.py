"""Open311 service requests from the register: one request per finding, its status from the case it belongs to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.privacy import Audience, text_for
from services.patrol.domain.idempotency import KeyRecord
from services.patrol.domain.open311.form import CHINA
from services.patrol.domain.register import (
    CaseSnapshot,
    ReportSnapshot,
    duplicate_of,
    is_closed,
    pending_deadline,
)
from services.patrol.domain.status import body_name
from services.reference.loader import ReferenceData

# Coordinates shown to callers who do not serve the township: about 100 m, enough for a map, not for a doorstep.
PUBLIC_DECIMALS = 3
STATUS_WORDS = {
    "open": "已立案，待派遣", "referred": "已移送，待受理", "handling_locally": "由鄉鎮綜合行政執法辦公室辦理",
    "accepted": "已受理", "returned": "被退回，重新派遣中", "handling": "辦理中",
    "result_fed_back": "已反饋結果，待核查", "verified": "已核查，待結案", "closed": "已結案",
    "issued": "待簽收", "decided": "已指定管轄",
}


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).isoformat(timespec="seconds")


def status_notes(case: CaseSnapshot, duplicate: str | None, reference: ReferenceData,
                 report: ReportSnapshot | None = None, audience: Audience = Audience.PUBLIC) -> str:
    words = STATUS_WORDS.get(case.status, case.status)
    notes = f"{words}（{case.status}）；主辦：{body_name(reference, case.lead_body_id)}"
    current = case.referrals[-1] if case.referrals else None
    if current is not None and case.status != "closed":  # the handling body's progress on the referral it holds
        notes += f"；承辦 {body_name(reference, current.body_id)}：{STATUS_WORDS.get(current.state, current.state)}"
    deadline = pending_deadline(case)
    if deadline is not None:
        notes += f"；受理期限 {timestamp(deadline)}"
    closing_note = text_for(audience, case.closing_note) if case.status == "closed" else None
    if closing_note:  # free text: as the audience may read it (the public reads none)
        notes += f"；結案說明：{closing_note}"
    if case.previous_case_id is not None:
        notes += f"；前案 {case.previous_case_id} 結案後再次發生，另立新案"
    if duplicate is not None:
        notes += f"；與 {duplicate} 為同一違法行為，已合併"
    if report is not None and report.category_code != case.category_code:
        notes += (f"；本報告事項「{_category_name(reference, report.category_code)}」與本案由同一機關辦理，"
                  "一併處理")
    # The other matters at the same place are their own cases: each with its own lead, referral and deadline.
    for other in case.related:
        notes += (f"；同址另一事項「{_category_name(reference, other.category_code)}」另案 {other.case_id}，"
                  f"由{body_name(reference, other.lead_body_id)}辦理（{other.status}）")
    return notes


def _category_name(reference: ReferenceData, code: str) -> str:
    category = reference.categories.get(code)
    return category.name if category else code


def request_view(report: ReportSnapshot, case: CaseSnapshot, reference: ReferenceData, *, full: bool,
                 extensions: bool) -> dict[str, Any]:
    """``full`` for callers serving the township: exact coordinates and the text as the official audience reads it
    (masked: a key serving every township is no party to the case); else the public view, without either."""
    audience = Audience.OFFICIAL if full else Audience.PUBLIC
    category = reference.categories.get(report.category_code)
    duplicate = duplicate_of(report, case)
    view: dict[str, Any] = {
        "service_request_id": report.finding_id, "status": "closed" if is_closed(case) else "open",
        "status_notes": status_notes(case, duplicate, reference, report, audience),
        "service_name": category.name if category else report.category_code, "service_code": report.category_code,
        "description": text_for(audience, report.description),
        "agency_responsible": body_name(reference, case.lead_body_id), "service_notice": None,
        "requested_datetime": timestamp(report.received_at), "updated_datetime": timestamp(case.updated_at),
        "expected_datetime": timestamp(pending_deadline(case)),
        "address": text_for(audience, report.address or None), "address_id": None,
        "zipcode": None, **_coordinates(report.latitude, report.longitude, full),
        "media_url": report.photo_uris[0] if full and report.photo_uris else None,
    }
    if extensions:
        routing = case.routing
        view["extended_attributes"] = {
            "case_id": case.case_id, "case_status": case.status, "duplicate_of": duplicate,
            "previous_case_id": case.previous_case_id, "township_code": report.township_code,
            "lead_body_id": case.lead_body_id, "report_count": case.report_count,
            "related_cases": [{"case_id": r.case_id, "category_code": r.category_code,
                               "lead_body_id": r.lead_body_id,
                               "agency_responsible": body_name(reference, r.lead_body_id), "status": r.status}
                              for r in case.related],
            "routing": None if routing is None else {
                "rule": routing.rule, "item_codes": list(routing.item_codes),
                "catalogue_version": routing.catalogue_version,
                "detail": text_for(Audience.OFFICIAL, routing.detail)},
        }
    return view


def pending_view(record: KeyRecord, reference: ReferenceData, *, full: bool, extensions: bool) -> dict[str, Any]:
    """A request accepted onto the topic that the register has not recorded yet."""
    category = reference.categories.get(record.category_code)
    view: dict[str, Any] = {
        "service_request_id": record.finding_id, "status": "open",
        "status_notes": "已受理上報，待立案（accepted, awaiting registration）",
        "service_name": category.name if category else record.category_code, "service_code": record.category_code,
        "description": None, "agency_responsible": None, "service_notice": None,
        "requested_datetime": timestamp(record.claimed_at), "updated_datetime": timestamp(record.claimed_at),
        "expected_datetime": None, "address": None, "address_id": None, "zipcode": None,
        **_coordinates(record.latitude, record.longitude, full), "media_url": None,
    }
    if extensions:
        view["extended_attributes"] = {"case_id": None, "case_status": None, "duplicate_of": None,
                                       "previous_case_id": None, "township_code": record.township_code,
                                       "lead_body_id": None, "report_count": None, "related_cases": [],
                                       "routing": None}
    return view


def _coordinates(latitude: float, longitude: float, full: bool) -> dict[str, float]:
    if full:
        return {"lat": latitude, "long": longitude}
    return {"lat": round(latitude, PUBLIC_DECIMALS), "long": round(longitude, PUBLIC_DECIMALS)}


def post_answer(finding_id: str) -> dict[str, Any]:
    """The answer to ``POST requests``: the id is final at once (type realtime); token names the same request."""
    return {"service_request_id": finding_id, "token": finding_id, "service_notice": "已受理上報（accepted）",
            "account_id": None}
