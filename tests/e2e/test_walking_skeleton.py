"""A finding posted over HTTP travels through the real broker: patrol → dispatch → referral topic → register → feed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from schemas.events import CASE_EVENT_MODELS, CaseOpened, FeedEntry, FindingReported, ReferralIssued
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, FEED, FINDINGS, referrals_topic
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data
from tests.stack_fixtures import StackFactory, officer_token
from tests.topic_reader import read_events

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _referred_category(township_code: str) -> str:
    """A category this township must refer to a county team (no delegated item)."""
    from services.dispatch.domain.routing import route

    reference = load_reference_data()
    for code in sorted(reference.categories_for_township(township_code, NOW)):
        if route(reference, township_code, code, NOW).rule == "county_department":
            return code
    raise AssertionError(f"no referred category in {township_code}")


def test_finding_reaches_team_topic_register_and_feed(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.start_all()
    township = "210603008"  # 花园街道, 振兴区
    category = _referred_category(township)
    latitude, longitude = random_point_in_county("210603", random.Random(7))
    body = {"client_report_id": "walk-1", "township_code": township, "category_code": category,
            "location": {"latitude": latitude, "longitude": longitude, "datum": "WGS-84"},
            "observed_at": NOW.isoformat(), "description": "巡查發現 (walking skeleton)"}
    token = officer_token(stack, [township])
    answer = httpx.post(f"http://127.0.0.1:{stack.patrol_port}/v1/findings", json=body,
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 202, answer.text
    finding_id = answer.json()["finding_id"]

    findings = read_events(stack.bootstrap_servers, FINDINGS.name(stack.topic_prefix), [FindingReported])
    assert [f.finding_id for f in findings] == [finding_id]  # type: ignore[attr-defined]

    def case_events() -> list:
        events = read_events(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), CASE_EVENT_MODELS)
        return events if len(events) >= 2 else []

    opened, issued = poll_until(case_events, 60, 0.5, "CaseOpened and ReferralIssued")
    assert isinstance(opened, CaseOpened) and opened.finding.finding_id == finding_id
    assert isinstance(issued, ReferralIssued) and issued.case_id == opened.case_id
    assert issued.body_id == opened.lead_body_id and issued.body_id.startswith("team:210603:")
    assert issued.routing.rule == "county_department" and issued.routing.item_codes

    team_topic = referrals_topic(issued.body_id, stack.topic_prefix)
    on_team_topic = read_events(stack.bootstrap_servers, team_topic, [ReferralIssued])
    assert [r.referral_id for r in on_team_topic] == [issued.referral_id]  # type: ignore[attr-defined]

    info = f"http://127.0.0.1:{stack.info_share_port}"
    case = poll_until(lambda: httpx.get(f"{info}/v1/cases/{opened.case_id}").status_code == 200 and
                      httpx.get(f"{info}/v1/cases/{opened.case_id}").json(), 60, 0.5, "case in the register")
    assert case["status"] == "referred" and case["report_count"] == 1
    assert [r["body_id"] for r in case["referrals"]] == [issued.body_id]

    feed = poll_until(lambda: read_events(stack.bootstrap_servers, FEED.name(stack.topic_prefix), [FeedEntry]),
                      60, 0.5, "feed entries")
    assert {e.event for e in feed} >= {"case_opened"}  # type: ignore[attr-defined]
    page = httpx.get(f"{info}/v1/feed", params={"after": 0}).json()
    assert [e["event"] for e in page] == ["case_opened", "referral_issued"]
    assert all("巡查" not in e["summary"] for e in page)  # the description never reaches the public feed
