"""Dispatch test material: findings and responses for the service layer over plain dict tables, and sample days
of findings with the decisions the running system must publish for them (the fault scenarios check the same)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from schemas.api import FindingSubmission
from schemas.events import (
    CaseOpened,
    FindingMerged,
    FindingReported,
    Location,
    ReferralIssued,
    ReferralResponded,
    Subject,
)
from scripts.sample_day import sample_day
from services.dispatch.domain import dedup
from services.dispatch.domain.routing import route
from services.dispatch.service import CASE_FILES_TABLE, OVERDUE_TABLE, REFERRALS_TABLE, Dispatcher
from services.dispatch.worker import TABLE_NAMES
from services.patrol.domain.access import Principal
from services.patrol.domain.intake import build_finding
from services.reference.loader import load_reference_data

REFERENCE = load_reference_data()
RECEIVED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
TOWNSHIP = "210624100"  # a township of 宽甸满族自治县
COUNTY = "210624"


def tables() -> dict[str, dict]:
    names = (dedup.CASES_TABLE, dedup.MEMBERS_TABLE, CASE_FILES_TABLE, REFERRALS_TABLE, OVERDUE_TABLE)
    return {name: {} for name in names}


def category_routed_by(rule: str) -> str:
    for code in sorted(REFERENCE.categories_for_township(TOWNSHIP, RECEIVED)):
        if route(REFERENCE, TOWNSHIP, code, RECEIVED).rule == rule:
            return code
    raise AssertionError(f"no category of {TOWNSHIP} is routed by {rule}")


def finding(finding_id: str, category: str, lat: float, lon: float, *, subjects: tuple[Subject, ...] = (),
            received: datetime = RECEIVED) -> FindingReported:
    return FindingReported(
        finding_id=finding_id, client_report_id=finding_id, source="patrol", reporter="officer-1",
        township_code=TOWNSHIP, county_code=COUNTY, category_code=category,
        location=Location(latitude=lat, longitude=lon), observed_at=received, received_at=received,
        description="巡查發現", subjects=subjects,
    )


def group_of(category: str) -> str:
    return REFERENCE.categories[category].dedup_group


def respond(issued: ReferralIssued, action: str, response_id: str, body_id: str | None = None,
            at: datetime | None = None, **details: str) -> ReferralResponded:
    return ReferralResponded(response_id=response_id, referral_id=issued.referral_id, case_id=issued.case_id,
                             body_id=body_id or issued.body_id, action=action,
                             responded_at=at or issued.occurred_at + timedelta(hours=1), **details)


# -- sample days through the running system ----------------------------------------------------------------------------

def sample_findings(days: int) -> list[tuple[str, FindingReported]]:
    """(key, finding) for several sample days, made by the patrol intake itself (so they are valid)."""
    system = Principal("system-test", "system", frozenset(REFERENCE.townships))
    out = []
    today = datetime.now(UTC)
    for day in range(days):
        received = today - timedelta(days=day + 1)
        for item in sample_day(REFERENCE, received.date(), seed=day):
            submission = FindingSubmission.model_validate(item.body)
            finding, key = build_finding(submission, system, REFERENCE, received.replace(hour=23))
            out.append((key, finding))
    return out


def expected_cases(findings: list[tuple[str, FindingReported]]) -> dict[str, str]:
    """finding id → case id from the service layer alone, same order: what the running system must produce."""
    dispatcher = Dispatcher(REFERENCE, {name: {} for name in TABLE_NAMES})
    result = {}
    for key, finding in findings:
        for out in dispatcher.on_finding(finding, key):
            if isinstance(out.model, CaseOpened | FindingMerged):
                result[finding.finding_id] = out.model.case_id
    return result


def decisions(events: list) -> dict[str, set[tuple[str, str]]]:
    """finding id → the distinct (event id, case id) decisions published for it."""
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in events:
        if isinstance(event, CaseOpened | FindingMerged):
            seen[event.finding.finding_id].add((event.event_id, event.case_id))
    return seen
