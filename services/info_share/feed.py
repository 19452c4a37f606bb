"""Feed entries for the public audience: built from an allow-list of fields, never by dumping a record."""

from __future__ import annotations

from schemas.events import FeedEntry
from services.info_share.register.tables import CaseRow, LedgerRow
from services.reference.loader import ReferenceData

EVENT_WORDS = {
    "case_opened": "立案", "finding_merged": "合併重複報告", "referral_issued": "案件移送",
    "case_transitioned": "狀態變更", "response_rejected": "回覆被拒",
}


def feed_entry(row: LedgerRow, case: CaseRow, reference: ReferenceData) -> FeedEntry:
    township = reference.townships.get(case.township_code)
    category = reference.categories.get(case.category_code)
    body_id = row.payload.get("body_id") or case.lead_body_id
    try:
        body_name = reference.body(body_id).name
    except KeyError:
        body_name = body_id
    # Only names from reference data and the status: no description, reporter, subjects or coordinates.
    summary = (f"{township.name if township else case.township_code} · "
               f"{category.name if category else case.category_code} · "
               f"{EVENT_WORDS.get(row.event, row.event)} · {body_name} · {case.status}")
    return FeedEntry(
        sequence=row.sequence, event_id=row.event_id, event=row.event, case_id=row.case_id,
        occurred_at=row.occurred_at, county_code=case.county_code, township_code=case.township_code,
        category_code=case.category_code, body_id=body_id, status=case.status, summary=summary,
    )
