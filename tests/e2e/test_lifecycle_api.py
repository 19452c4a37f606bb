"""Every path of a referral's lifecycle, driven through HTTP only over the real stack, for each kind of body.

Findings go in through patrol; every action goes through the lifecycle API with the acting body's own token; the
register, the feed, the timeline and the evaluation figures are read back through info-share.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.local_stack import Stack
from services.common.polling import poll_until
from tests.lifecycle_fixtures import (
    COUNTY,
    NOW,
    REFERENCE,
    TEAM,
    TEAM_CATEGORY,
    TOWNSHIP,
    body_party,
    case_detail,
    category_routed_by,
    latest_referral,
    report,
)
from tests.stack_fixtures import StackFactory, officer_token

pytestmark = pytest.mark.integration

OTHER_TOWNSHIP = next(code for code, t in sorted(REFERENCE.townships.items())
                      if t.county_code == COUNTY and code != TOWNSHIP)
OTHER_TEAM = next(b.body_id for b in REFERENCE.bodies()
                  if b.body_id.startswith(f"team:{COUNTY}:") and b.body_id != TEAM)
# Two external work-order systems: the competent team's, and another team's of the same county.
WORK_ORDER_KEY, OTHER_WORK_ORDER_KEY = "wo-team-key-0123456789", "wo-other-key-0123456789"
WORK_ORDER_API_KEYS = f"{WORK_ORDER_KEY}=team-work-orders:{TEAM};{OTHER_WORK_ORDER_KEY}=other-work-orders:{OTHER_TEAM}"


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Stack:
    factory: StackFactory = request.getfixturevalue("module_stack_factory")
    built = factory()
    built.start_all()
    return built


@pytest.fixture(scope="module")
def module_stack_factory(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    stacks: list[Stack] = []

    def build() -> Stack:
        unique = uuid.uuid4().hex[:8]
        made = Stack(run_dir=tmp_path_factory.mktemp("lifecycle"), bootstrap_servers=kafka_bootstrap,
                     topic_prefix=f"t{unique}", group_prefix=f"g{unique}",
                     extra_env={"LIANDONG_WORK_ORDER_API_KEYS": WORK_ORDER_API_KEYS})
        stacks.append(made)
        return made

    yield build
    for made in stacks:
        made.stop()


def handle_to_closed(stack: Stack, case_id: str, referral: dict[str, Any], *, rework: bool = False) -> None:
    body = body_party(stack, referral["body_id"])
    township = body_party(stack, f"township:{TOWNSHIP}")
    rid = referral["referral_id"]
    body.ok(rid, "accept")
    body.ok(rid, "start")
    body.ok(rid, "feedback", {"outcome": "rectified", "note": "已责令整改", "evidence": ["https://evidence.example/1"]})
    if rework:
        township.ok(rid, "rework", {"reason": "整改照片缺失"})
        body.ok(rid, "feedback", {"outcome": "rectified", "note": "补充照片"})
    township.ok(rid, "verify")
    township.ok(rid, "close", {"note": "核查属实，结案"})
    assert case_detail(stack, case_id)["status"] == "closed"


def test_county_team_path_with_forgeries_refused(stack: Stack) -> None:
    case_id = report(stack, category_routed_by("county_department"), 1)
    referral = latest_referral(stack, case_id)
    assert referral is not None and referral["body_id"].startswith(f"team:{COUNTY}:")
    team, township = body_party(stack, referral["body_id"]), body_party(stack, f"township:{TOWNSHIP}")
    rid = referral["referral_id"]

    card = next(c for c in team.referrals(needs_action=True) if c["referral_id"] == rid)
    assert card["state_label"] == "待签收" and "accept" in card["actions"] and card["deadline_label"]
    assert card["power_list_entry"]

    # Nobody can answer for another: another body, the township, a body of another county.
    other_team = next(b.body_id for b in REFERENCE.bodies()
                      if b.body_id.startswith(f"team:{COUNTY}:") and b.body_id != referral["body_id"])
    for intruder in (body_party(stack, other_team), township):
        refused = intruder.act(rid, "accept")
        assert refused.status_code == 403, refused.text
    other_township = body_party(stack, f"township:{OTHER_TOWNSHIP}")
    assert other_township.act(rid, "accept").status_code == 403
    # A backdated stated time and a stated time from the future are refused; nothing changed.
    before = team.act(rid, "accept", {"stated_at": (NOW - timedelta(days=30)).isoformat()})
    assert before.status_code == 422 and "before the referral was issued" in before.text
    ahead = team.act(rid, "accept", {"stated_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()})
    assert ahead.status_code == 422
    assert team.act(rid, "accept", {"stated_at": "9999-12-31T23:59:59-23:59"}).status_code == 422
    assert latest_referral(stack, case_id)["state"] == "issued"  # type: ignore[index]

    # The same key is the same action: answered the same, applied once.
    first = team.act(rid, "accept", key="sign-1")
    again = team.act(rid, "accept", key="sign-1")
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["action_id"] == again.json()["action_id"]
    conflict = team.act(rid, "accept", key="sign-2")
    assert conflict.status_code == 409 and conflict.json()["state"] == "accepted"
    # A key names one action: the signing key cannot start handling.
    reused = team.act(rid, "start", key="sign-1")
    assert reused.status_code == 409 and "was used for accept" in reused.json()["detail"], reused.text
    # The township cannot close what was not fed back; the body cannot close at all.
    team.ok(rid, "start")
    assert township.act(rid, "close").status_code == 409
    assert team.act(rid, "close").status_code == 403
    result = {"outcome": "penalty_decided", "note": "已立案处罚", "evidence": ["https://evidence.example/a.jpg"]}
    fed_back = team.act(rid, "feedback", result, key="result-1")
    assert fed_back.status_code == 200 and fed_back.json()["status"] == "applied", fed_back.text
    assert team.act(rid, "feedback", result, key="result-1").json()["action_id"] == fed_back.json()["action_id"]
    # A retry under the same key that says something else is refused, not taken for the first request.
    altered = team.act(rid, "feedback", {**result, "note": "已整改", "outcome": "rectified"},
                       key="result-1")
    assert altered.status_code == 422 and altered.json()["error"] == "idempotency_key_reused", altered.text
    assert "reason/note" in altered.json()["detail"] and "outcome" in altered.json()["detail"]
    assert other_township.act(rid, "verify").status_code == 403
    township.ok(rid, "verify")
    township.ok(rid, "close", {"note": "核查属实，结案"})

    detail = case_detail(stack, case_id)
    assert detail["status"] == "closed"
    timeline = township.client.get(f"/v1/cases/{case_id}/timeline").json()["transitions"]
    assert [t["action"] for t in timeline] == ["accept", "start_handling", "feed_back", "verify", "close"]
    assert timeline[0]["actor_body_id"] == referral["body_id"] and timeline[-1]["actor_body_id"] == township.body_id
    assert timeline[0]["channel"] == "http" and timeline[2]["evidence"] == ["https://evidence.example/a.jpg"]
    assert other_township.client.get(f"/v1/cases/{case_id}/timeline").status_code == 403

    figures = township.client.get("/v1/stats/evaluation").json()
    mine = next(b for b in figures["bodies"] if b["body_id"] == referral["body_id"])
    assert mine["closed"] >= 1 and mine["fed_back"] >= 1 and mine["close_seconds_median"] is not None
    csv_answer = township.client.get("/v1/stats/evaluation.csv")
    assert csv_answer.status_code == 200 and referral["body_id"] in csv_answer.text

    # After closure the same violation reported again opens a new case linked to the closed one.
    reported = detail["reports"][0]
    new_case = report(stack, detail["category_code"], 1, point=(reported["latitude"], reported["longitude"]))
    assert new_case != case_id
    assert case_detail(stack, new_case)["previous_case_id"] == case_id
    feed = httpx.get(f"http://127.0.0.1:{stack.info_share_port}/v1/feed", params={"limit": 1000}, timeout=30).json()
    assert any(e["case_id"] == case_id and e["status"] == "closed" for e in feed)
    assert any(e["case_id"] == new_case and e["previous_case_id"] == case_id for e in feed)
    open311 = f"http://127.0.0.1:{stack.patrol_port}/open311/v2/requests"
    new_finding = case_detail(stack, new_case)["reports"][0]["finding_id"]
    officer = {"Authorization": f"Bearer {officer_token(stack, [TOWNSHIP])}"}  # the closing note is free text
    def both() -> tuple[dict[str, Any], dict[str, Any]] | None:
        # Patrol's own case view follows the case events on its own: read until it holds the new case too.
        old, new = (httpx.get(f"{open311}/{finding}.json", params={"jurisdiction_id": TOWNSHIP, "extensions": "true"},
                              headers=officer, timeout=30).json()[0]
                    for finding in (reported["finding_id"], new_finding))
        return (old, new) if old["status"] == "closed" and new["extended_attributes"].get("previous_case_id") else None

    old, new = poll_until(both, 30, 0.3, "patrol's view of the closed case and of its recurrence")
    assert old["status"] == "closed" and "結案說明：核查属实" in old["status_notes"], old
    assert new["status"] == "open" and f"前案 {case_id}" in new["status_notes"], new
    assert new["extended_attributes"]["previous_case_id"] == case_id
    assert not any("referral_id" in r for r in httpx.get(  # anonymous callers get no handle to act with
        f"http://127.0.0.1:{stack.info_share_port}/v1/cases/{case_id}", timeout=30).json()["referrals"])


def test_agency_path_with_extension_and_rework(stack: Stack) -> None:
    case_id = report(stack, category_routed_by("dispatched_agency"), 2)
    referral = latest_referral(stack, case_id)
    assert referral is not None and referral["body_id"].startswith("agency:")
    agency = body_party(stack, referral["body_id"])
    extended = agency.ok(referral["referral_id"], "extension", {"reason": "需现场核实权属"})
    assert extended["to_state"] == "issued"
    assert agency.act(referral["referral_id"], "extension", {"reason": "again"}).status_code == 409
    handle_to_closed(stack, case_id, referral, rework=True)
    figures = body_party(stack, f"township:{TOWNSHIP}").client.get("/v1/stats/evaluation").json()
    mine = next(b for b in figures["bodies"] if b["body_id"] == referral["body_id"])
    assert mine["extensions"] >= 1 and mine["reworks"] >= 1
    township = next(t for t in figures["townships"] if t["township_code"] == TOWNSHIP)
    assert referral["body_id"] in {a["body_id"] for a in township["dispatched_agencies"]}


def test_township_led_case_runs_the_same_lifecycle_to_closed(stack: Stack) -> None:
    case_id = report(stack, category_routed_by("delegated_to_township"), 3)
    referral = latest_referral(stack, case_id)
    assert referral is not None and referral["body_id"] == f"township:{TOWNSHIP}"
    handle_to_closed(stack, case_id, referral)


def test_returns_escalate_to_a_dispute_that_coordination_decides(stack: Stack) -> None:
    case_id = report(stack, category_routed_by("county_department"), 4)
    referral = latest_referral(stack, case_id)
    assert referral is not None
    reasons = iter(["not_our_duty", "overlapping_duties", "unclear_ownership", "wrong_place"])
    while not referral["body_id"].startswith("coordination:"):
        returning = body_party(stack, referral["body_id"])
        missing = returning.act(referral["referral_id"], "return", {"reason_code": "other"})
        assert missing.status_code == 422, missing.text  # other needs a text
        returning.ok(referral["referral_id"], "return", {"reason_code": next(reasons)})
        attempt = referral["attempt"] + 1
        referral = poll_until(lambda a=attempt: latest_referral(stack, case_id, a), 30, 0.3, "the re-routed one")
    assert referral["body_id"] == f"coordination:{COUNTY}"
    assert case_detail(stack, case_id)["status"] == "disputed"

    coordination = body_party(stack, referral["body_id"])
    desk = coordination.client.get("/v1/coordination/disputes").json()
    assert referral["referral_id"] in {d["referral_id"] for d in desk["disputes"]}
    other_county = body_party(stack, "coordination:210603")
    assert other_county.act(referral["referral_id"], "decision",
                            {"body_id": f"team:{COUNTY}:natural_resources"}).status_code == 403
    assert other_county.client.get("/v1/coordination/disputes").json()["disputes"] == [] or all(
        d["county_code"] == "210603" for d in other_county.client.get("/v1/coordination/disputes").json()["disputes"])
    assert coordination.act(referral["referral_id"], "accept").status_code == 409  # a dispute is decided, not signed
    designated_body = f"team:{COUNTY}:natural_resources"
    foreign = coordination.act(referral["referral_id"], "decision", {"body_id": "team:210603:natural_resources"})
    assert foreign.status_code == 422, foreign.text
    coordination.ok(referral["referral_id"], "decision", {"body_id": designated_body, "reason": "土地权属明确"})
    designated = poll_until(lambda: latest_referral(stack, case_id, referral["attempt"] + 1), 30, 0.3, "designated")
    assert designated["body_id"] == designated_body
    team = body_party(stack, designated_body)
    assert team.act(designated["referral_id"], "return", {"reason_code": "not_our_duty"}).status_code == 409
    handle_to_closed(stack, case_id, designated)


def test_work_order_system_reports_progress_through_open311_updates(stack: Stack) -> None:
    """An external work-order system answers for its one body, in mySociety's servicerequestupdates; the township
    closes; Open311 then shows the request closed with the closing note, and the timeline says it came by Open311."""
    case_id = report(stack, TEAM_CATEGORY, 5)
    referral = latest_referral(stack, case_id)
    assert referral is not None and referral["body_id"] == TEAM
    finding_id = case_detail(stack, case_id)["reports"][0]["finding_id"]
    updates = f"http://127.0.0.1:{stack.info_share_port}/open311/v2/servicerequestupdates.json"
    open311 = f"http://127.0.0.1:{stack.patrol_port}/open311/v2/requests/{finding_id}.json"

    def post(status: str, update_id: str, key: str = WORK_ORDER_KEY, **extra: str) -> httpx.Response:
        # Whole seconds, as work-order systems send them: rounded up, so never before a referral issued this second.
        stated = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
        form = {"api_key": key, "service_request_id": finding_id, "update_id": update_id, "status": status,
                "updated_datetime": stated, **extra}
        return httpx.post(updates, data=form, timeout=30)

    def open311_request() -> dict[str, Any]:
        answer = httpx.get(open311, params={"jurisdiction_id": TOWNSHIP}, timeout=10,
                           headers={"Authorization": f"Bearer {officer_token(stack, [TOWNSHIP])}"})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()[0])

    # Refused, and nothing changes: a bad key, another body's system, an unknown request, an unknown status.
    assert post("investigating", "u0", key="not-a-key-0123456789").status_code == 403
    other = post("investigating", "u0", key=OTHER_WORK_ORDER_KEY)
    assert other.status_code == 403 and "not referred to" in other.json()[0]["description"]
    assert httpx.post(updates, data={"api_key": WORK_ORDER_KEY, "service_request_id": "no-such", "update_id": "x",
                                     "status": "investigating", "updated_datetime": NOW.isoformat()},
                      timeout=30).status_code == 404
    unknown = post("reopened", "u0")
    assert unknown.status_code == 400 and "investigating" in unknown.json()[0]["description"]
    missing = httpx.post(updates, data={"api_key": WORK_ORDER_KEY, "service_request_id": finding_id}, timeout=30)
    assert missing.status_code == 400 and {"code": 400, "description": "update_id: Field required"} in missing.json()
    assert latest_referral(stack, case_id)["state"] == "issued"  # type: ignore[index]

    # Signed for, handled, fed back with evidence — each update one step, in the standard statuses.
    signed = post("investigating", "u1", description="已签收，安排现场核查")
    assert signed.status_code == 200, signed.text
    assert signed.json()[0]["status"] == "applied" and signed.json()[0]["to_state"] == "accepted"
    again = post("investigating", "u1")
    assert again.status_code == 409 and "used before" in again.json()[0]["description"]
    reused = post("in_progress", "u1")
    assert reused.status_code == 409, reused.text  # an update_id is used once, whatever it reports
    early = post("fixed", "u2-early", external_status_code="not-an-outcome")
    assert early.status_code == 400 and "rectified" in early.json()[0]["description"]
    assert post("in_progress", "u2").json()[0]["to_state"] == "handling"
    poll_until(lambda: "辦理中" in open311_request()["status_notes"], 30, 0.3, "Open311 shows the case in hand")
    fed_back = post("fixed", "u3", external_status_code="penalty_decided", description="已立案处罚",
                    media_url="https://work-orders.example/photos/1.jpg")
    assert fed_back.status_code == 200 and fed_back.json()[0]["to_state"] == "result_fed_back", fed_back.text
    late = post("not_councils_responsibility", "u4")
    assert late.status_code == 409, late.text  # a referral fed back cannot be returned

    township = body_party(stack, f"township:{TOWNSHIP}")
    township.ok(referral["referral_id"], "verify")
    township.ok(referral["referral_id"], "close", {"note": "核查属实，予以结案"})

    closed = poll_until(lambda: (r := open311_request())["status"] == "closed" and r, 30, 0.3, "Open311 closed")
    assert "結案說明：核查属实，予以结案" in closed["status_notes"], closed["status_notes"]
    public = httpx.get(open311, params={"jurisdiction_id": TOWNSHIP}, timeout=10).json()[0]
    assert public["status"] == "closed" and "結案說明" not in public["status_notes"]  # the public reads no free text
    timeline = township.client.get(f"/v1/cases/{case_id}/timeline").json()["transitions"]
    by_work_order = [t for t in timeline if t["channel"] == "open311"]
    assert [t["action"] for t in by_work_order] == ["accept", "start_handling", "feed_back"]
    assert {t["actor"] for t in by_work_order} == {"team-work-orders"}
    assert by_work_order[-1]["outcome"] == "penalty_decided"
    assert by_work_order[-1]["evidence"] == ["https://work-orders.example/photos/1.jpg"]
