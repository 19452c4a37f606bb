"""The JSON API against the real broker: honest answers, clear field errors, nothing kept for refused input."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from services.patrol.domain.intake import finding_id_for
from services.reference.loader import load_reference_data
from tests.patrol_fixtures import (
    CATEGORY,
    HOTLINE_KEY,
    JWT_SECRET,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VIDEO_KEY,
    PatrolHarness,
    submission,
)

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.patrol_fixtures"]

VALID_USCC = "91110000600037341L"
BAD_RESIDENT_ID = "110105194912310021"  # check character should be X


def test_accepted_finding_is_on_the_topic_when_the_answer_comes(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    body = submission("app-1", subjects=[{"kind": "uscc", "value": VALID_USCC}])
    answer = patrol.client.post("/v1/findings", json=body, headers=patrol.headers())
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["finding_id"] == finding_id_for("officer-1", "app-1") and accepted["status"] == "accepted"
    [finding] = patrol.findings_on_topic()  # read right after the answer: 202 means it is already there
    assert finding.finding_id == accepted["finding_id"] and finding.reporter == "officer-1"
    assert finding.subjects[0].value == VALID_USCC and finding.county_code == "210603"
    assert answer.headers["X-Request-ID"]


def test_same_key_gets_the_same_answer_and_other_content_a_conflict(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    body = submission("app-2")
    first = patrol.client.post("/v1/findings", json=body, headers=patrol.headers())
    again = patrol.client.post("/v1/findings", json=body, headers=patrol.headers())
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    changed = patrol.client.post("/v1/findings", json={**body, "description": "改了"}, headers=patrol.headers())
    assert changed.status_code == 409, changed.text
    assert changed.json()["error"] == "idempotency_conflict"
    assert changed.json()["field_errors"][0]["field"] == "client_report_id"
    # Another officer using the same key files another finding: keys are per reporter.
    other = patrol.client.post("/v1/findings", json=body, headers=patrol.headers(subject="officer-2"))
    assert other.status_code == 202 and other.json()["finding_id"] != first.json()["finding_id"]
    assert sorted(f.finding_id for f in patrol.findings_on_topic()) == sorted(
        [first.json()["finding_id"], other.json()["finding_id"]])


def _bad_requests(patrol: PatrolHarness) -> list[tuple[str, dict[str, Any], int, str, str]]:
    """(name, request kwargs, status, error code, field named) for every kind of bad input in the issue."""
    now = datetime.now(UTC)
    headers = patrol.headers()
    json_headers = {**headers, "Content-Type": "application/json"}
    return [
        ("malformed JSON", {"content": b'{"client_report_id": "x",', "headers": json_headers},
         400, "malformed_json", "body"),
        ("wrong content type", {"content": json.dumps(submission("b-1")).encode(),
                                "headers": {**headers, "Content-Type": "text/plain"}},
         415, "unsupported_media_type", "body"),
        ("form data to the JSON API", {"data": {"client_report_id": "b-2"}, "headers": headers},
         415, "unsupported_media_type", "body"),
        ("no body", {"headers": json_headers}, 422, "invalid_request", "body"),
        ("unknown category for the township", {"json": submission("b-3", category="illegal_fishing"),
                                               "headers": headers},
         422, "unknown_category", "category_code"),
        ("outside China", {"json": submission("b-4", location={"latitude": 35.68, "longitude": 139.76}),
                           "headers": headers}, 422, "bad_location", "location"),
        ("outside the county", {"json": submission("b-5", location={"latitude": 39.9087, "longitude": 116.3975}),
                                "headers": headers}, 422, "bad_location", "location"),
        ("observed in the future", {"json": submission("b-6", observed_at=now + timedelta(hours=2)),
                                    "headers": headers}, 422, "bad_time", "observed_at"),
        ("observed long ago", {"json": submission("b-7", observed_at=now - timedelta(days=400)),
                               "headers": headers}, 422, "bad_time", "observed_at"),
        ("naive observed time", {"json": {**submission("b-8"), "observed_at": "2026-01-01T08:00:00"},
                                 "headers": headers}, 422, "invalid_request", "observed_at"),
        ("invalid USCC check character", {"json": submission("b-9", subjects=[
            {"kind": "uscc", "value": VALID_USCC[:-1] + "M"}]), "headers": headers},
         422, "invalid_subject", "subjects[0].value"),
        ("invalid resident id check digit", {"json": submission("b-10", subjects=[
            {"kind": "resident_id", "value": BAD_RESIDENT_ID}]), "headers": headers},
         422, "invalid_subject", "subjects[0].value"),
        ("description over 4000 characters", {"json": submission("b-11", description="違" * 4001),
                                               "headers": headers}, 422, "invalid_request", "description"),
        ("latitude out of range", {"json": submission("b-12", location={"latitude": 123, "longitude": 124}),
                                   "headers": headers}, 422, "invalid_request", "location.latitude"),
        ("NUL in the key", {"json": submission("b-15\u0000"), "headers": headers},
         422, "invalid_request", "client_report_id"),
        ("lone surrogate", {"content": json.dumps(submission("b-16", description="\ud800")).encode(),
                            "headers": json_headers}, 422, "invalid_request", "description"),
        ("unknown field", {"json": {**submission("b-13"), "priority": "high"}, "headers": headers},
         422, "invalid_request", "priority"),
        ("GCJ-02 datum", {"json": submission("b-14", location={"latitude": 40.1, "longitude": 124.3,
                                                                "datum": "GCJ-02"}), "headers": headers},
         422, "invalid_request", "location.datum"),
    ]


def test_every_bad_input_gets_a_field_level_error_and_leaves_nothing(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    for name, request, status, code, field in _bad_requests(patrol):
        answer = patrol.client.post("/v1/findings", **request)
        assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text}"
        body = answer.json()
        assert body["error"] == code, f"{name}: {body}"
        assert field in [f["field"] for f in body["field_errors"]], f"{name}: {body}"
        assert all(f["message"] for f in body["field_errors"]), name
        assert BAD_RESIDENT_ID not in answer.text, name  # answers mask resident ids too
    resident = next(e for e in patrol.audit.entries if e.what.get("client_report_id") == "b-10")
    assert resident.reason == "invalid_subject" and resident.what["subjects"][0]["value"] == "110105************"
    assert BAD_RESIDENT_ID not in json.dumps([e.to_dict() for e in patrol.audit.entries], ensure_ascii=False)
    assert patrol.findings_on_topic() == []
    assert len(patrol.audit.entries) == len(_bad_requests(patrol))
    assert {e.outcome for e in patrol.audit.entries} == {"rejected"}


def test_oversize_bodies_and_batches_are_refused_before_parsing(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol(max_body_bytes=4_000, max_batch_body_bytes=20_000, max_batch_items=3)
    big = submission("big-1", description="違" * 1500)  # 4,500 bytes of UTF-8
    answer = patrol.client.post("/v1/findings", json=big, headers=patrol.headers())
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large", answer.text
    too_many = {"items": [submission(f"m-{i}") for i in range(4)]}
    answer = patrol.client.post("/v1/findings/batch", json=too_many, headers=patrol.headers())
    assert answer.status_code == 422 and answer.json()["error"] == "batch_too_large", answer.text
    assert answer.json()["field_errors"][0]["field"] == "items"
    too_heavy = {"items": [submission(f"h-{i}", description="違" * 3000) for i in range(3)]}
    answer = patrol.client.post("/v1/findings/batch", json=too_heavy, headers=patrol.headers())
    assert answer.status_code == 413 and "20000 bytes" in answer.json()["detail"]
    chunked = patrol.client.post("/v1/findings", content=iter([b"{" + b" " * 5_000, b"}"]),
                                 headers={**patrol.headers(), "Content-Type": "application/json"})
    assert chunked.status_code == 413  # no Content-Length: counted while reading
    assert patrol.findings_on_topic() == []
    assert [e.status for e in patrol.audit.entries] == [413, 422, 413, 413]


def test_batch_gives_each_item_its_own_result(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    earlier = submission("batch-0")
    patrol.client.post("/v1/findings", json=earlier, headers=patrol.headers())
    items = [earlier, submission("batch-1", seed=2), submission("batch-2", category="illegal_fishing"),
             submission("batch-1", seed=3), {"client_report_id": "batch-4"}, submission("batch-5", seed=5),
             submission("batch-6", township=OTHER_TOWNSHIP), {"client_report_id": "\ud800"}]
    answer = patrol.client.post("/v1/findings/batch", content=json.dumps({"items": items}).encode(),
                                headers={**patrol.headers(), "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(r["index"], r["status"], r["outcome"]) for r in body["results"]] == [
        (0, 202, "replayed"), (1, 202, "accepted"), (2, 422, "rejected"), (3, 422, "rejected"),
        (4, 422, "rejected"), (5, 202, "accepted"), (6, 403, "forbidden"), (7, 422, "rejected")]
    assert (body["accepted"], body["rejected"], body["failed"]) == (3, 5, 0)
    assert body["results"][7]["client_report_id"] is None  # half a surrogate pair cannot be echoed
    assert body["results"][2]["error"]["field_errors"][0]["field"] == "items[2].category_code"
    assert body["results"][3]["error"] == {
        "error": "duplicate_in_batch", "detail": "items[3].client_report_id: duplicate of items[1] in the same batch",
        "field_errors": [{"field": "items[3].client_report_id", "message": "duplicate of items[1] in the same batch"}]}
    assert "items[4].township_code" in [f["field"] for f in body["results"][4]["error"]["field_errors"]]
    on_topic = {f.client_report_id for f in patrol.findings_on_topic()}
    assert on_topic == {"batch-0", "batch-1", "batch-5"}
    assert len([e for e in patrol.audit.entries if e.action == "submit_batch"]) == len(items)


def _token(claims: dict[str, Any], secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    base = {"sub": "officer-1", "role": "patrol_officer", "townships": [TOWNSHIP], "iss": "liandong-idp",
            "aud": "liandong-patrol", "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, secret, algorithm=algorithm)


def test_authentication_and_authorisation(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol(adjoining_townships=f"{TOWNSHIP}:{OTHER_TOWNSHIP}")

    def post(key: str, headers: dict[str, str], township: str = TOWNSHIP) -> Any:
        return patrol.client.post("/v1/findings", json=submission(key, township=township), headers=headers)

    missing = post("a-1", {})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    for name, token in [("expired", _token({"exp": int(time.time()) - 10})), ("wrong secret", _token(
            {}, secret="another-secret-of-enough-length")), ("wrong audience", _token({"aud": "other"})),
                        ("wrong issuer", _token({"iss": "someone"})), ("unsigned", _token({}, secret="",
                                                                                            algorithm="none"))]:
        answer = post("a-2", {"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, f"{name}: {answer.text}"
    assert post("a-3", {"Authorization": "Basic abc"}).status_code == 401
    elsewhere = post("a-4", patrol.headers(townships=["210681001"]))
    assert elsewhere.status_code == 403 and elsewhere.json()["field_errors"][0]["field"] == "township_code"
    team = post("a-5", patrol.headers(role="county_team"))
    assert team.status_code == 403 and "cannot file findings as a township" in team.text
    assert post("a-6", patrol.headers(), township=OTHER_TOWNSHIP).status_code == 202  # adjoining, configured
    assert post("a-7", {"X-API-Key": HOTLINE_KEY}, township="210681001").status_code == 202
    assert post("a-8", {"X-API-Key": VIDEO_KEY}, township=OTHER_TOWNSHIP).status_code == 403
    assert post("a-9", {"X-API-Key": "not-a-key-at-all-00000"}).status_code == 403
    assert {f.client_report_id for f in patrol.findings_on_topic()} == {"a-6", "a-7"}
    outcomes = [(e.who.subject, e.outcome) for e in patrol.audit.entries]
    assert ("anonymous", "unauthenticated") in outcomes and ("hotline-12345", "accepted") in outcomes
    logged = json.dumps([e.to_dict() for e in patrol.audit.entries], ensure_ascii=False)
    assert HOTLINE_KEY not in logged and "eyJ" not in logged  # no key, no token


def test_rate_limit_per_caller(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol(rate_limit_burst=2, rate_limit_per_minute=6)
    answers = [patrol.client.post("/v1/findings", json=submission(f"r-{i}"), headers=patrol.headers())
               for i in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["error"] == "rate_limited" and int(answers[2].headers["Retry-After"]) >= 1
    other = patrol.client.post("/v1/findings", json=submission("r-x"), headers=patrol.headers(subject="officer-2"))
    assert other.status_code == 202  # limits are per caller
    lookups = patrol.client.get("/v1/findings", params={"client_report_id": "r-0"}, headers=patrol.headers())
    assert lookups.status_code == 429  # reads count too
    assert [e.outcome for e in patrol.audit.entries].count("rate_limited") == 1  # writes are audited


def test_status_lookup_follows_the_finding_into_its_case(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    first = patrol.client.post("/v1/findings", json=submission("s-1", seed=9), headers=patrol.headers())
    finding_id = first.json()["finding_id"]
    pending = patrol.client.get(f"/v1/findings/{finding_id}", headers=patrol.headers())
    assert pending.status_code == 200 and pending.json()["state"] == "accepted"
    assert pending.json()["case"] is None and pending.json()["client_report_id"] == "s-1"
    # A second report of the same violation a few metres away, by the hotline.
    repeat = submission("hotline-77", seed=9)
    repeat["location"]["latitude"] += 0.00005
    second = patrol.client.post("/v1/findings", json=repeat, headers={"X-API-Key": HOTLINE_KEY})
    assert second.status_code == 202
    patrol.case_views().register_topic(patrol.bootstrap_servers, patrol.topic_prefix)

    status = patrol.client.get(f"/v1/findings/{finding_id}", headers=patrol.headers()).json()
    assert status["state"] == "registered" and status["case"]["duplicate_of"] is None
    case = status["case"]
    assert case["status"] == "referred" and case["report_count"] == 2
    assert case["routing"]["rule"] == "county_department" and case["routing"]["item_codes"]
    assert case["referrals"][0]["body_id"] == case["lead_body_id"] and case["expected_at"]
    merged = patrol.client.get(f"/v1/findings/{second.json()['finding_id']}", headers=patrol.headers()).json()
    assert merged["case"]["case_id"] == case["case_id"] and merged["case"]["duplicate_of"] == finding_id
    by_key = patrol.client.get("/v1/findings", params={"client_report_id": "s-1"}, headers=patrol.headers())
    assert by_key.json()["finding_id"] == finding_id
    hidden = patrol.client.get(f"/v1/findings/{finding_id}", headers=patrol.headers(
        subject="officer-9", townships=["210681001"]))
    assert hidden.status_code == 404
    unknown = patrol.client.get("/v1/findings/00000000-0000-0000-0000-000000000000", headers=patrol.headers())
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_metrics_count_accepted_rejected_by_reason_and_latency(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    patrol.client.post("/v1/findings", json=submission("m-1"), headers=patrol.headers())
    patrol.client.post("/v1/findings", json=submission("m-2", category="illegal_fishing"), headers=patrol.headers())
    text = patrol.client.get("/metrics").text
    assert f'liandong_patrol_findings_accepted_total{{api="json",category="{CATEGORY}",source="patrol",' \
           f'township="{TOWNSHIP}"}}' in text
    assert 'liandong_patrol_findings_rejected_total{api="json",reason="unknown_category"}' in text
    assert "liandong_patrol_publish_failures_total" in text
    assert 'liandong_http_request_duration_seconds_count{route="/v1/findings",service="patrol",status_class="2xx"}' \
           in text
    assert "liandong_patrol_publish_duration_seconds_bucket" in text


def test_openapi_document_describes_the_api(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol(max_batch_items=250)
    document = patrol.client.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/v1/findings", "/v1/findings/batch", "/v1/findings/{finding_id}", "/open311/v2/services.{fmt}",
            "/open311/v2/requests.{fmt}", "/open311/v2/requests/{service_request_id}.{fmt}",
            "/open311/v2/tokens/{token}.{fmt}", "/open311/v2/services/{service_code}.{fmt}"} <= set(paths)
    post = paths["/v1/findings"]["post"]
    assert {"202", "400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(post["responses"])
    assert document["components"]["schemas"]["FindingBatch"]["properties"]["items"]["maxItems"] == 250
    assert {"officerToken", "systemApiKey"} <= set(document["components"]["securitySchemes"])
    example = post["requestBody"]["content"]["application/json"]["examples"]["patrol"]["value"]
    answer = patrol.client.post("/v1/findings", json=example, headers=patrol.headers())
    assert answer.status_code == 202, answer.text  # the documented example is a valid submission


def test_category_list_shows_the_dedup_rule_and_refuses_bad_townships_clearly(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    listed = patrol.client.get("/v1/categories", params={"township_code": TOWNSHIP}, headers=patrol.headers())
    assert listed.status_code == 200, listed.text
    reference = load_reference_data()
    assert {c["category_code"] for c in listed.json()} == set(reference.categories_for_township(
        TOWNSHIP, datetime.now(UTC)))
    for item in listed.json():
        category = reference.categories[item["category_code"]]
        assert (item["dedup_group"], item["dedup_radius_m"]) == (category.dedup_group, category.dedup_radius_m)
    everything = patrol.client.get("/v1/categories", headers=patrol.headers()).json()
    assert len(everything) == len(reference.categories)
    unknown = patrol.client.get("/v1/categories", params={"township_code": "999999999"}, headers=patrol.headers())
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_township"
    for bad in ("21060300", "x" * 5000, "２１０６０３００３", "210603003\n"):
        answer = patrol.client.get("/v1/categories", params={"township_code": bad}, headers=patrol.headers())
        assert 400 <= answer.status_code < 500, (bad, answer.status_code)
    assert patrol.client.get("/v1/categories").status_code == 401
