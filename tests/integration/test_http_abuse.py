"""Abuse of the HTTP services, served for real (uvicorn over TCP, the real broker): forged, expired and
wrong-audience tokens, filing for another township, replayed requests and guessed keys are refused; every refusal
leaves exactly one audit entry (found by the X-Request-ID the refusal carries) with no token or key in it; and
repeated failed authentication is rate-limited per client address (issue #7).

Each client connects from its own loopback address (127.0.0.x), so the services see different client addresses.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest

from schemas.events import CaseOpened, FindingMerged
from services.common.audit import AuditEntry
from services.info_share.auth import issue_token as issue_info_share_token
from services.patrol.adapters.auth import issue_token as issue_patrol_token
from services.patrol.domain.intake import finding_id_for
from services.patrol.settings import PatrolSettings
from tests.info_share_served import InfoShareServer
from tests.patrol_fixtures import (
    CATEGORY,
    HOTLINE_KEY,
    JWT_SECRET,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VIDEO_KEY,
    point_in,
    submission,
)
from tests.patrol_served import PatrolServer
from tests.serving import ATTACKER

pytestmark = pytest.mark.integration

NEIGHBOUR = "127.0.0.3"  # another client: its own budget of failures
READER = "127.0.0.4"
FAR_TOWNSHIP = "210681001"  # in 东港市: served by nobody in these tests


# -- tokens ---------------------------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


NONE_HEADER = _b64(b'{"alg":"none","typ":"JWT"}')


def forgeries(genuine: str, escalate: dict[str, Any]) -> dict[str, str]:
    """Tokens an attacker can make from a genuine one without the secret, claims changed by ``escalate``."""
    header, payload, signature = genuine.split(".")
    claims = {**_claims(genuine), **escalate}
    tampered = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return {
        "signed with another secret": jwt.encode(claims, "attacker-own-secret-0123456789abcdef", algorithm="HS256"),
        "alg none": jwt.encode(claims, key=None, algorithm="none"),  # type: ignore[arg-type]
        "alg none, header edited": f"{NONE_HEADER}.{tampered}.",
        "payload tampered, signature kept": f"{header}.{tampered}.{signature}",
        "signature stripped": f"{header}.{payload}.",
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- patrol ---------------------------------------------------------------------------------------------------------

def assert_refused_once(server: PatrolServer, answer: httpx.Response, status: int, outcome: str,
                        action: str = "submit_finding") -> AuditEntry:
    assert answer.status_code == status, answer.text
    [entry] = server.audited(answer)
    assert (entry.status, entry.outcome, entry.action) == (status, outcome, action), entry
    assert entry.who.client_address == ATTACKER
    return entry


def test_patrol_refuses_forged_tokens_on_writes_and_reads_and_audits_each(
        patrol_server: Callable[..., PatrolServer]) -> None:
    server = patrol_server()
    genuine = server.harness.token()
    # Each forgery claims more than the officer has: every township, as a system.
    forged = forgeries(genuine, {"townships": ["*"], "role": "system", "sub": "officer-9"})
    for index, (name, token) in enumerate(forged.items()):
        answer = server.attacker.post("/v1/findings", json=submission(f"forged-{index}", township=FAR_TOWNSHIP),
                                      headers=bearer(token))
        entry = assert_refused_once(server, answer, 401, "unauthenticated")
        assert answer.headers["WWW-Authenticate"] == "Bearer" and answer.json()["error"] == "unauthenticated", name
        assert entry.who.subject == "anonymous", name
        read = server.attacker.get("/v1/findings", params={"client_report_id": "x"}, headers=bearer(token))
        entry = assert_refused_once(server, read, 401, "unauthenticated", action="read")
        assert entry.what == {"method": "GET", "route": "/v1/findings"}, name
        listed = server.attacker.get("/open311/v2/requests.json", headers=bearer(token))
        assert_refused_once(server, listed, 401, "unauthenticated", action="read")
    # The genuine token works, for its own township only: the refusals were about the forgery.
    own = server.attacker.post("/v1/findings", json=submission("genuine-1"), headers=bearer(genuine))
    assert own.status_code == 202, own.text
    assert [f.client_report_id for f in server.harness.findings_on_topic()] == ["genuine-1"]
    logged = server.audit_text()
    assert not any(token in logged or token.split(".")[2] in logged for token in [*forged.values(), genuine]
                   if token.split(".")[2])
    assert "eyJ" not in logged  # no token, not even a part of one


def test_patrol_refuses_expired_tokens_and_audits_each(patrol_server: Callable[..., PatrolServer]) -> None:
    server = patrol_server()
    settings: PatrolSettings = server.harness.settings
    now = time.time()
    expired = {
        "ten seconds ago": issue_patrol_token(settings, "officer-1", [TOWNSHIP], lifetime_seconds=-10),
        "yesterday's shift": issue_patrol_token(settings, "officer-1", [TOWNSHIP], now=now - 86_400,
                                                lifetime_seconds=8 * 3600),
    }
    for name, token in expired.items():
        assert _claims(token)["exp"] < now, name
        answer = server.attacker.post("/v1/findings", json=submission("late-1"), headers=bearer(token))
        entry = assert_refused_once(server, answer, 401, "unauthenticated")
        assert answer.json()["detail"].endswith("token expired"), name
        assert entry.problems == (("", "token expired"),), name
        read = server.attacker.get("/v1/findings", params={"client_report_id": "late-1"}, headers=bearer(token))
        assert_refused_once(server, read, 401, "unauthenticated", action="read")
    fresh = server.attacker.post("/v1/findings", json=submission("late-1"), headers=server.harness.headers())
    assert fresh.status_code == 202, fresh.text  # the same request with a live token: only the expiry was wrong
    assert [f.client_report_id for f in server.harness.findings_on_topic()] == ["late-1"]


def test_each_service_accepts_only_tokens_for_its_own_audience(
        patrol_server: Callable[..., PatrolServer], info_share_server: Callable[..., InfoShareServer]) -> None:
    patrol, share = patrol_server(), info_share_server()
    # Same identity provider, same secret, same issuer and claims: only the audience differs.
    for_share = issue_info_share_token(share.settings, "officer-1", role="patrol_officer", township_codes=[TOWNSHIP])
    for_patrol = issue_patrol_token(patrol.harness.settings, "officer-1", [TOWNSHIP])
    assert _claims(for_share)["aud"] == "liandong-info-share" and _claims(for_patrol)["aud"] == "liandong-patrol"

    at_patrol = patrol.attacker.post("/v1/findings", json=submission("aud-1"), headers=bearer(for_share))
    entry = assert_refused_once(patrol, at_patrol, 401, "unauthenticated")
    assert entry.problems == (("", "token audience is not this service"),)

    attacker = share.client(ATTACKER)
    at_share = attacker.get(f"/v1/cases/{share.case_id}", headers=bearer(for_patrol))
    assert at_share.status_code == 401 and at_share.json()["detail"] == "token audience is not this service"
    [logged] = share.audited(at_share)
    assert (logged["outcome"], logged["who"]["subject"], logged["who"]["client_address"]) == (
        "unauthenticated", "anonymous", ATTACKER)

    # Each token works where it belongs, and one naming both audiences works at both.
    assert patrol.attacker.post("/v1/findings", json=submission("aud-2"), headers=bearer(for_patrol)).status_code == 202
    assert attacker.get(f"/v1/cases/{share.case_id}", headers=bearer(for_share)).json()["audience"] == "full"
    both = jwt.encode({**_claims(for_patrol), "aud": ["liandong-patrol", "liandong-info-share"]}, JWT_SECRET,
                      algorithm="HS256")
    assert patrol.attacker.post("/v1/findings", json=submission("aud-3"), headers=bearer(both)).status_code == 202
    assert attacker.get(f"/v1/cases/{share.case_id}", headers=bearer(both)).status_code == 200
    assert sorted(f.client_report_id for f in patrol.harness.findings_on_topic()) == ["aud-2", "aud-3"]


def test_an_officer_cannot_file_for_another_township_and_each_attempt_is_audited(
        patrol_server: Callable[..., PatrolServer]) -> None:
    server = patrol_server()  # no adjoining townships configured
    officer = server.harness.headers(townships=[TOWNSHIP])

    single = server.attacker.post("/v1/findings", json=submission("x-1", township=OTHER_TOWNSHIP), headers=officer)
    entry = assert_refused_once(server, single, 403, "forbidden")
    assert single.json()["error"] == "forbidden_township"
    assert single.json()["field_errors"][0]["field"] == "township_code"
    assert (entry.reason, entry.who.subject, entry.who.method) == ("forbidden_township", "officer-1", "jwt")
    assert entry.what["township_code"] == OTHER_TOWNSHIP and entry.what["client_report_id"] == "x-1"

    batch = server.attacker.post("/v1/findings/batch", headers=officer, json={"items": [
        submission("x-2"), submission("x-3", township=OTHER_TOWNSHIP, seed=2)]})
    assert batch.status_code == 200, batch.text
    assert [(r["status"], r["outcome"]) for r in batch.json()["results"]] == [(202, "accepted"), (403, "forbidden")]
    assert sorted((e.what["client_report_id"], e.outcome, e.reason) for e in server.audited(batch)) == [
        ("x-2", "accepted", ""), ("x-3", "forbidden", "forbidden_township")]

    # A device key of one township (Open311) may not file for the next one either.
    latitude, longitude = point_in("210603", 5)
    form = {"api_key": VIDEO_KEY, "jurisdiction_id": OTHER_TOWNSHIP, "service_code": CATEGORY, "lat": latitude,
            "long": longitude, "description": "視頻發現搭建", "attribute[client_report_id]": "x-4"}
    posted = server.attacker.post("/open311/v2/requests.json", data=form)
    entry = assert_refused_once(server, posted, 403, "forbidden", action="open311_post_request")
    assert (entry.reason, entry.who.subject, entry.who.method) == ("forbidden_township", "video-platform", "api_key")
    assert VIDEO_KEY not in server.audit_text()

    # Only the officer's own township's finding was published.
    assert [f.client_report_id for f in server.harness.findings_on_topic()] == ["x-2"]


def test_replayed_requests_never_make_a_second_finding(patrol_server: Callable[..., PatrolServer]) -> None:
    server = patrol_server()
    headers = server.harness.headers()
    body = submission("replay-1")
    finding_id = finding_id_for("officer-1", "replay-1")

    # The app re-sends while the first attempt is still in flight: six identical requests at once.
    start = threading.Barrier(6)
    apps = [server.client(f"127.0.1.{index + 1}") for index in range(6)]

    def send(client: httpx.Client) -> httpx.Response:
        start.wait(10)
        return client.post("/v1/findings", json=body, headers=headers)

    with ThreadPoolExecutor(6) as pool:
        burst = list(pool.map(send, apps))
    assert [a.status_code for a in burst] == [202] * 6, [a.text for a in burst]
    assert {a.json()["finding_id"] for a in burst} == {finding_id}

    again = server.attacker.post("/v1/findings", json=body, headers=headers)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["finding_id"] == finding_id
    changed = server.attacker.post("/v1/findings", json={**body, "description": "改成另一件事"}, headers=headers)
    entry = assert_refused_once(server, changed, 409, "conflict")
    assert changed.json()["error"] == "idempotency_conflict" and finding_id in changed.json()["detail"]
    assert entry.what["client_report_id"] == "replay-1"
    # The conflict did not take the key over: the original content still gets the original answer.
    original = server.attacker.post("/v1/findings", json=body, headers=headers)
    assert original.status_code == 202 and original.json() == again.json()
    in_batch = server.attacker.post("/v1/findings/batch", json={"items": [body, submission("replay-2", seed=3)]},
                                    headers=headers)
    assert [(r["outcome"], r["finding_id"]) for r in in_batch.json()["results"]] == [
        ("replayed", finding_id), ("accepted", finding_id_for("officer-1", "replay-2"))]

    # Every request was audited once (the batch once per item); the re-sends as replays.
    for answer in [*burst, again, original]:
        [entry] = server.audited(answer)
        assert entry.outcome in ("accepted", "replayed") and entry.what["finding_id"] == finding_id
    assert [e.outcome for e in server.audited(again)] == ["replayed"]

    # On the topic: one finding id per report. Through the real dispatch logic into the register: one decision.
    on_topic = [f.finding_id for f in server.harness.findings_on_topic()]
    assert set(on_topic) == {finding_id, finding_id_for("officer-1", "replay-2")}
    decided = {e.event_id for e in server.harness.case_views().register_topic(server.harness.bootstrap_servers,
                                                                              server.harness.topic_prefix)
               if isinstance(e, CaseOpened | FindingMerged) and e.finding.finding_id == finding_id}
    assert len(decided) == 1


def test_guessing_api_keys_is_refused_then_rate_limited_per_address(
        patrol_server: Callable[..., PatrolServer]) -> None:
    server = patrol_server(auth_failure_burst=5, auth_failures_per_minute=0.5)
    guesses = [f"guess-{i:04d}-0123456789abcdef" for i in range(8)]
    answers = [server.attacker.post("/v1/findings", json=submission(f"g-{i}"), headers={"X-API-Key": key})
               for i, key in enumerate(guesses)]
    assert [a.status_code for a in answers] == [403] * 5 + [429] * 3, [a.text for a in answers]
    assert {a.json()["error"] for a in answers[:5]} == {"forbidden"}
    assert {a.json()["error"] for a in answers[5:]} == {"rate_limited"}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers[5:])
    for answer in answers[:5]:
        entry = assert_refused_once(server, answer, 403, "forbidden")
        assert entry.problems == (("", "invalid api_key"),) and entry.who.subject == "anonymous"
    for answer in answers[5:]:
        entry = assert_refused_once(server, answer, 429, "rate_limited")
        assert "failed authentications" in entry.problems[0][1]

    # Locked out: the right key is refused too, unchecked — the guesser cannot tell it from a wrong one.
    right = server.attacker.post("/v1/findings", json=submission("g-right"), headers={"X-API-Key": HOTLINE_KEY})
    entry = assert_refused_once(server, right, 429, "rate_limited")
    assert entry.who.subject == "hotline-12345"  # the audit names whose key was tried from that address
    # Another address has its own budget: the right key works, a wrong one is a plain 403.
    neighbour = server.client(NEIGHBOUR)
    assert neighbour.post("/v1/findings", json=submission("n-1"), headers={"X-API-Key": HOTLINE_KEY}).status_code == 202
    assert neighbour.post("/v1/findings", json=submission("n-2"), headers={"X-API-Key": guesses[0]}).status_code == 403

    # Guessing through reads (Open311 GET, key in the query) is limited and audited the same way.
    reader = server.client(READER)
    reads = [reader.get("/open311/v2/requests.json", params={"api_key": key}) for key in guesses[:7]]
    assert [r.status_code for r in reads] == [403] * 5 + [429] * 2
    for read in reads:
        [entry] = server.audited(read)
        assert (entry.action, entry.api, entry.who.client_address) == ("read", "open311", READER)
        assert entry.what == {"method": "GET", "route": "/open311/v2/requests.{fmt}"}
    assert [server.audited(r)[0].outcome for r in reads] == ["forbidden"] * 5 + ["rate_limited"] * 2
    # Anonymous reads present no credential: the public view stays open to that address.
    assert reader.get("/open311/v2/requests.json").status_code == 200

    assert [f.client_report_id for f in server.harness.findings_on_topic()] == ["n-1"]
    logged = server.audit_text()
    assert not any(key in logged for key in [*guesses, HOTLINE_KEY])


# -- info-share -----------------------------------------------------------------------------------------------------

def test_info_share_refuses_bad_tokens_never_downgrading_them_to_public_and_audits_each(
        info_share_server: Callable[..., InfoShareServer]) -> None:
    share = info_share_server()
    attacker = share.client(ATTACKER)
    genuine = share.token()
    path = f"/v1/cases/{share.case_id}"
    bad = {
        **forgeries(genuine, {"role": "supervisor"}),
        "expired": share.token(lifetime_seconds=-10),
        "not a bearer token": None,
    }
    for name, token in bad.items():
        headers = bearer(token) if token else {"Authorization": f"Basic {_b64(b'team:guess')}"}
        answer = attacker.get(path, headers=headers)
        assert answer.status_code == 401, (name, answer.text)
        assert answer.headers["WWW-Authenticate"] == "Bearer" and answer.json()["error"] == "unauthenticated"
        [entry] = share.audited(answer)
        assert (entry["api"], entry["action"], entry["outcome"], entry["status"]) == (
            "info_share", "read", "unauthenticated", 401), name
        assert entry["who"] == {"subject": "anonymous", "role": "", "method": "", "client_address": ATTACKER}
        assert entry["what"] == {"method": "GET", "route": "/v1/cases/{case_id}"}
    feed = attacker.get("/v1/feed", headers=bearer(bad["expired"]))  # the feed too
    assert feed.status_code == 401 and share.audited(feed)[0]["problems"] == [
        {"field": "", "message": "token expired"}]

    # Without a token the caller is the public; with the genuine one an enforcement body: both answered.
    assert attacker.get(path).json()["audience"] == "public"
    assert attacker.get(path, headers=bearer(genuine)).json()["audience"] == "full"  # the lead team
    # Authenticated but not entitled: 403, audited with who it was.
    public_role = attacker.get("/v1/cases/nearby", params={"latitude": 40.13, "longitude": 124.39},
                               headers=bearer(share.token(role="public", body_id=None)))
    assert public_role.status_code == 403
    [entry] = share.audited(public_role)
    assert (entry["outcome"], entry["who"]["subject"], entry["who"]["role"]) == ("forbidden", "test-public", "public")
    assert len(share.entries()) == len(bad) + 2  # one per refusal, nothing for the answered requests
    logged = share.audit_path.read_text(encoding="utf-8")
    assert "eyJ" not in logged and genuine.split(".")[2] not in logged


def test_info_share_rate_limits_failed_authentication_per_address(
        info_share_server: Callable[..., InfoShareServer]) -> None:
    share = info_share_server(auth_failure_burst=5, auth_failures_per_minute=0.5)
    attacker, neighbour = share.client(ATTACKER), share.client(NEIGHBOUR)
    path = f"/v1/cases/{share.case_id}"
    guesses = [jwt.encode({**_claims(share.token()), "sub": f"guess-{i}"}, f"guessed-secret-{i:04d}-0123456789abcdef",
                          algorithm="HS256") for i in range(7)]
    answers = [attacker.get(path, headers=bearer(token)) for token in guesses]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 2, [a.text for a in answers]
    assert all(int(a.headers["Retry-After"]) >= 1 and a.json()["error"] == "rate_limited" for a in answers[5:])
    assert [share.audited(a)[0]["outcome"] for a in answers] == ["unauthenticated"] * 5 + ["rate_limited"] * 2
    # Locked out: a genuine token from that address is refused unchecked; anonymous public reads stay open.
    locked = attacker.get(path, headers=bearer(share.token()))
    assert locked.status_code == 429 and share.audited(locked)[0]["who"]["client_address"] == ATTACKER
    assert attacker.get(path).json()["audience"] == "public"
    # Another address is not affected.
    assert neighbour.get(path, headers=bearer(share.token())).json()["audience"] == "full"
    assert neighbour.get(path, headers=bearer(guesses[0])).status_code == 401
    assert len(share.entries()) == len(guesses) + 2

