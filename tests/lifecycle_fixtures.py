"""The lifecycle over a real stack as its parties see it: each acting body with a token of its own and the lifecycle
API, findings filed through patrol, cases and referrals read back from the register through info-share.

Cross-service by nature, and only for the cross-service tests (tests/ownership.py): its users are the end-to-end
tests over the whole stack (tests/e2e/test_lifecycle_api.py, tests/e2e/test_workbench_browser.py). It imports
dispatch (the routing rules, to know which team a category goes to) and info-share (its tokens and settings), so no
service's own test may import it; a service's test needing one of these pieces takes it from that service's fixture
module instead."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from deploy.local_stack import Stack
from services.common.polling import poll_until
from services.dispatch.domain.routing import route
from services.info_share.auth import issue_token
from services.info_share.settings import InfoShareApiSettings
from services.reference.geography import random_point_in_county
from tests.dispatch_fixtures import COUNTY, REFERENCE, TOWNSHIP
from tests.dispatch_fixtures import category_routed_by as routed_at
from tests.stack_fixtures import officer_token

NOW = datetime.now(UTC)


def category_routed_by(rule: str) -> str:
    """A category of TOWNSHIP (宽甸满族自治县) that ``rule`` routes now."""
    return routed_at(rule, NOW)


TEAM_CATEGORY = category_routed_by("county_department")
TEAM = route(REFERENCE, TOWNSHIP, TEAM_CATEGORY, NOW).lead_body_id


class Party:
    """One acting party: a token of its own, and the lifecycle API as it sees it."""

    def __init__(self, stack: Stack, body_id: str | None, role: str, townships: list[str] | None = None) -> None:
        settings = InfoShareApiSettings(jwt_secret=stack.jwt_secret)  # type: ignore[arg-type,call-arg]
        self.body_id = body_id or f"township:{(townships or [''])[0]}"
        token = issue_token(settings, f"demo-{self.body_id}", role=role, body_id=body_id, township_codes=townships)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{stack.info_share_port}", timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})

    def act(self, referral_id: str, segment: str, body: dict[str, Any] | None = None,
            key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.client.post(f"/v1/referrals/{referral_id}/{segment}", json=body or {}, headers=headers)

    def ok(self, referral_id: str, segment: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.act(referral_id, segment, body, key=uuid.uuid4().hex)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "applied"
        return dict(answer.json())

    def referrals(self, **params: Any) -> list[dict[str, Any]]:
        answer = self.client.get("/v1/referrals", params=params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["referrals"])


def body_party(stack: Stack, body_id: str) -> Party:
    if body_id.startswith("township:"):
        return Party(stack, None, "township_officer", [body_id.split(":", 1)[1]])
    role = {"team": "county_team", "agency": "dispatched_agency", "coordination": "county_coordination"}[
        body_id.split(":", 1)[0]]
    return Party(stack, body_id, role)


def report(stack: Stack, category: str, seed: int, township: str = TOWNSHIP,
           point: tuple[float, float] | None = None) -> str:
    """File a finding through patrol; the id of the case it opened, once the register has its referral."""
    latitude, longitude = point or random_point_in_county(COUNTY, random.Random(seed))
    body = {"client_report_id": f"life-{seed}-{uuid.uuid4().hex[:6]}", "township_code": township,
            "category_code": category, "observed_at": datetime.now(UTC).isoformat(),
            "location": {"latitude": latitude, "longitude": longitude, "datum": "WGS-84"},
            "description": "巡查發現疑似違法行為"}
    answer = httpx.post(f"http://127.0.0.1:{stack.patrol_port}/v1/findings", json=body, timeout=30,
                        headers={"Authorization": f"Bearer {officer_token(stack, [township])}"})
    assert answer.status_code == 202, answer.text
    finding_id = answer.json()["finding_id"]
    case_id = poll_until(lambda: case_of(stack, finding_id), 60, 0.3, f"finding {finding_id} in the register")
    poll_until(lambda: latest_referral(stack, case_id), 60, 0.3, f"a referral of case {case_id}")
    return str(case_id)


def case_of(stack: Stack, finding_id: str) -> str | None:
    supervisor = Party(stack, None, "supervisor")
    cases = supervisor.client.get("/v1/cases", params={"limit": 500}).json()["cases"]
    for case in cases:
        detail = supervisor.client.get(f"/v1/cases/{case['case_id']}").json()
        if any(r.get("finding_id") == finding_id for r in detail.get("reports", [])):
            return str(case["case_id"])
    return None


def latest_referral(stack: Stack, case_id: str, attempt: int = 1) -> dict[str, Any] | None:
    detail = Party(stack, None, "supervisor").client.get(f"/v1/cases/{case_id}").json()
    referrals = [r for r in detail.get("referrals", []) if r["attempt"] >= attempt]
    return max(referrals, key=lambda r: r["attempt"]) if referrals else None


def case_detail(stack: Stack, case_id: str) -> dict[str, Any]:
    return dict(Party(stack, None, "supervisor").client.get(f"/v1/cases/{case_id}").json())
