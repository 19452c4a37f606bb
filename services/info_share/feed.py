"""Feed entries built from an allow-list of fields, never by dumping a record.

The public summary carries names from reference data and the status only: no description, reporter, subjects or
coordinates. It is what the Kafka feed topic carries and what anonymous callers get. Enforcement bodies reading the
HTTP feed get the event's detail appended (the description, a return's reason…), masked unless they are a party.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from schemas.events import FeedEntry, RelatedCase
from services.info_share.adapters.register.tables import LedgerRow
from services.info_share.domain.audience import Audience
from services.info_share.domain.views import Renderer, known_values
from services.reference.loader import ReferenceData

EVENT_WORDS = {
    "case_opened": "立案", "finding_merged": "合併重複報告", "referral_issued": "案件移送",
    "case_transitioned": "狀態變更", "response_rejected": "回覆被拒", "referral_overdue": "逾期未受理",
}
ACTION_WORDS = {
    "accept": "受理", "return": "退回", "start_handling": "開始辦理", "feed_back": "反饋結果", "verify": "核查",
    "close": "結案", "extend": "延期", "rework": "駁回重辦", "decide": "指定管轄",
}


def feed_entry(row: LedgerRow, reference: ReferenceData, renderer: Renderer | None = None) -> FeedEntry:
    """The entry of one ledger row; with a non-public ``renderer`` the summary also carries the event's detail."""
    summary = public_summary(row, reference)
    if renderer is not None and renderer.audience is not Audience.PUBLIC:
        detail = _detail(row.event, row.payload, renderer)
        summary = f"{summary} · {detail}" if detail else summary
    return FeedEntry(
        sequence=row.sequence, event_id=row.event_id, event=row.event, case_id=row.case_id,
        occurred_at=row.occurred_at, county_code=row.county_code, township_code=row.township_code,
        category_code=row.category_code, body_id=row.body_id, status=row.status, summary=summary,
        previous_case_id=row.payload.get("previous_case_id") if row.event == "case_opened" else None,
        related_cases=_related(row),
        matter_category_code=_merged_category(row),
        ledger_hash=row.hash, prev_hash=row.prev_hash,
    )


def _related(row: LedgerRow) -> tuple[RelatedCase, ...]:
    if row.event != "case_opened":
        return ()
    return tuple(RelatedCase.model_validate(r) for r in row.payload.get("related_cases") or ())


def _merged_category(row: LedgerRow) -> str | None:
    if row.event != "finding_merged":
        return None
    category = (row.payload.get("finding") or {}).get("category_code")
    return str(category) if category else None


def public_summary(row: LedgerRow, reference: ReferenceData) -> str:
    township = reference.townships.get(row.township_code)
    category = reference.categories.get(row.category_code)
    body_name = row.body_id or ""
    if row.body_id:
        with suppress(KeyError):  # a body retired from reference data keeps its id
            body_name = reference.body(row.body_id).name
    what = EVENT_WORDS.get(row.event, row.event)
    action = row.payload.get("action")
    if row.event == "case_transitioned" and action in ACTION_WORDS:
        what = f"{what}（{ACTION_WORDS[action]}）"
    text = (f"{township.name if township else row.township_code} · "
            f"{category.name if category else row.category_code} · {what} · {body_name} · {row.status}")
    # Every matter at the place and who handles it: a merged report of another category, or the related cases.
    merged = _merged_category(row)
    if merged and merged != row.category_code:
        other = reference.categories.get(merged)
        text += f" · 併入事項：{other.name if other else merged}（同一辦理機關）"
    related = _related(row)
    if related:
        text += " · 同址其他事項：" + "；".join(
            f"{_category_name(reference, r.category_code)}由{_body_name(reference, r.lead_body_id)}辦理"
            for r in related)
    return text


def _category_name(reference: ReferenceData, code: str) -> str:
    category = reference.categories.get(code)
    return category.name if category else code


def _body_name(reference: ReferenceData, body_id: str) -> str:
    with suppress(KeyError):
        return reference.body(body_id).name
    return body_id


def _detail(event: str, payload: Mapping[str, Any], renderer: Renderer) -> str:
    if event in ("case_opened", "finding_merged"):
        finding = payload.get("finding") or {}
        # The finding's own reporter and subjects are masked wherever the description repeats them.
        own = known_values([str(finding.get("reporter", ""))], finding.get("subjects", []))
        return replace(renderer, known=renderer.known + own).text(str(finding.get("description", ""))) or ""
    if event == "referral_issued":
        return f"第{payload.get('attempt')}次移送，{payload.get('accept_by')}前受理"
    if event == "case_transitioned":
        parts = [f"{payload.get('from_state')}→{payload.get('to_state')}"]
        if payload.get("outcome"):
            parts.append(str(payload["outcome"]))
        if payload.get("reason"):
            parts.append(renderer.text(str(payload["reason"])) or "")
        return "，".join(parts)
    if event == "response_rejected":
        return renderer.text(str(payload.get("reason", ""))) or ""
    if event == "referral_overdue":
        return f"期限{payload.get('deadline')}，已告知{payload.get('escalated_to')}"
    return ""

