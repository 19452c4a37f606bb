"""The workbench without a network: sessions and CSRF, the words of a card, forms to JSON, and its pages against a
fake info-share (a subclass of the client port answering from memory)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from services.workbench.adapters.demo_idp import DemoIdp, demo_token
from services.workbench.adapters.lifecycle_client import Answer, LifecycleClient
from services.workbench.adapters.oidc import OidcClient, code_challenge, signed_in
from services.workbench.adapters.session_store import MemorySessionStore
from services.workbench.domain import labels
from services.workbench.domain.sessions import COOKIE_NAME, cookie_value, csrf_ok, new_session, session_id_from_cookie
from services.workbench.entrypoints.web import Deps, action_body, create_app
from services.workbench.settings import WorkbenchSettings

KEY = b"unit-test-session-key-0123456789"
CARD = {"referral_id": "r1", "case_id": "c1", "body_id": "team:210624:housing_urban", "state": "issued",
        "state_label": "待签收", "township_code": "210624100", "township_name": "宽甸镇", "county_code": "210624",
        "category_code": "illegal_construction", "category_name": "违法建设", "routing_rule": "county_department",
        "power_list_entry": "对违法建设的查处", "issued_at": "2026-12-01T01:00:00+00:00",
        "accept_by": "2026-12-04T10:00:00+00:00", "deadline_flag": "overdue", "deadline_label": "超期2个工作日",
        "actions": ["accept", "return", "extend"], "attempt": 1, "extended": False, "feedback_by": None,
        "outcome": None}

AGENCY = {"body_id": "agency:210624100:police_station", "name": "宽甸镇派出所<b>", "received": 4, "accepted": 3,
          "returned": 1, "extensions": 1, "reworks": 2, "closed": 2, "on_time_rate": 0.75}


def test_a_cookie_names_its_session_only_with_its_own_signature() -> None:
    value = cookie_value("abc", KEY)
    assert session_id_from_cookie(value, KEY) == "abc"
    assert session_id_from_cookie(value, b"another-key-0123456789") is None
    assert session_id_from_cookie("abd." + value.split(".")[1], KEY) is None
    assert session_id_from_cookie(None, KEY) is None and session_id_from_cookie("nodot", KEY) is None


def test_sessions_end_and_csrf_tokens_must_match() -> None:
    session = new_session(subject="s", body_id="township:210624100", token="t", now=1000.0, lifetime_seconds=60)
    store = MemorySessionStore()
    store.add(session)
    assert store.get(session.session_id, 1059.0) == session
    assert store.get(session.session_id, 1060.0) is None and store.get(session.session_id, 1.0) is None
    assert csrf_ok(session, session.csrf_token)
    assert not csrf_ok(session, None) and not csrf_ok(session, "") and not csrf_ok(session, "x")


def test_deadline_cues_carry_words_as_well_as_colour() -> None:
    assert labels.deadline_cue(CARD) == labels.DeadlineCue("deadline-overdue", "红牌 · 超期2个工作日")
    soon = labels.deadline_cue({**CARD, "deadline_flag": "due_soon", "deadline_label": "今日到期"})
    assert soon is not None and soon.words == "黄牌 · 今日到期"
    assert labels.deadline_cue({**CARD, "deadline_label": None}) is None


def test_refusals_are_told_in_words_with_the_state() -> None:
    words = labels.refusal_words(409, {"detail": "not in issued", "state": "accepted"})
    assert words.startswith("当前状态不允许此操作（当前状态：已签收）") and "not in issued" in words
    assert "无权办理" in labels.refusal_words(403, {"detail": "x"})


def test_forms_become_the_api_bodies() -> None:
    assert action_body("return", {"reason_code": "other", "reason": " 说明 "}) == {"reason_code": "other",
                                                                                   "reason": "说明"}
    assert action_body("feedback", {"outcome": "rectified", "note": "", "evidence": "https://a/1\n\nhttps://a/2"}) \
        == {"outcome": "rectified", "evidence": ["https://a/1", "https://a/2"]}
    assert action_body("rework", {"reason": "r", "due_by": "2026-12-10"}) == {
        "reason": "r", "due_by": "2026-12-10T18:00:00+08:00"}
    assert action_body("accept", {"csrf_token": "x", "idempotency_key": "k"}) == {}


def test_demo_tokens_carry_the_claims_info_share_reads() -> None:
    import jwt
    _subject, token = demo_token("township:210624100", secret="s" * 32, issuer="i", audience="a",
                                 lifetime_seconds=60)
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"], audience="a")
    assert claims["role"] == "township_officer" and claims["townships"] == ["210624100"]
    with pytest.raises(ValueError):
        demo_token("supervisor:all", secret="s" * 32, issuer="i", audience="a", lifetime_seconds=60)


def test_settings_refuse_a_placeholder_secret_and_demo_without_key() -> None:
    with pytest.raises(ValidationError):
        WorkbenchSettings(workbench_session_secret=SecretStr("changeme"))
    with pytest.raises(ValidationError):
        WorkbenchSettings(workbench_session_secret=SecretStr("k" * 20), workbench_demo_sign_in=True)


class FakeInfoShare(LifecycleClient):
    """info-share as the workbench sees it, from memory: one card; acting as the wrong body is refused."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, str, dict[str, Any]]] = []

    async def get(self, token: str, path: str, params: dict[str, Any] | None = None) -> Answer:
        if path == "/v1/referrals":
            return Answer(200, {"referrals": [CARD]})
        if path == "/v1/referrals/r1":
            return Answer(200, {**CARD, "timeline": []})
        if path == "/v1/stats/evaluation":
            return Answer(200, {"bodies": [], "townships": [{"township_code": "210624100", "name": "宽甸镇",
                                                             "dispatched_agencies": [AGENCY]}]})
        return Answer(200, {"reports": [], "transitions": []})

    async def act(self, token: str, referral_id: str, segment: str, body: dict[str, Any],
                  idempotency_key: str) -> Answer:
        self.actions.append((referral_id, segment, body))
        if referral_id == "r2":
            return Answer(200, {"status": "applied"})
        return Answer(409, {"error": "conflict", "detail": "already accepted", "state": "accepted"})


def client(demo: bool = True) -> tuple[TestClient, FakeInfoShare]:
    fake = FakeInfoShare()
    settings = WorkbenchSettings(workbench_session_secret=SecretStr(KEY.decode()), workbench_demo_sign_in=demo,
                                 jwt_secret=SecretStr("j" * 32))
    app = create_app(Deps(settings=settings, api=fake, sessions=MemorySessionStore(),
                          body_names={"team:210624:housing_urban": "宽甸县住建执法队"}, county_bodies={}))
    return TestClient(app, follow_redirects=False), fake


def test_demo_sign_in_sets_a_signed_httponly_lax_cookie_and_only_when_enabled() -> None:
    web, _fake = client()
    answer = web.get("/demo/sign-in", params={"as": "team:210624:housing_urban"})
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 303 and cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Max-Age=28800" in cookie
    inbox = web.get("/inbox")
    assert inbox.status_code == 200 and "红牌 · 超期2个工作日" in inbox.text and 'lang="zh-Hans"' in inbox.text
    disabled, _ = client(demo=False)
    assert disabled.get("/demo/sign-in", params={"as": "team:210624:housing_urban"}).status_code == 404
    assert disabled.get("/inbox").headers["location"] == "/sign-in"


def test_posts_need_the_sessions_csrf_token_and_refusals_are_shown() -> None:
    web, fake = client()
    web.get("/demo/sign-in", params={"as": "team:210624:housing_urban"})
    assert web.post("/referrals/r1/accept", data={}).status_code == 403
    assert web.post("/referrals/r1/accept", data={"csrf_token": "forged"}).status_code == 403
    refused_page = web.post("/referrals/r1/accept", data={}).text
    assert refused_page.count("CSRF") == 1  # told once, as a refusal
    for path in ("/inbox/accept", "/sign-out"):  # every form post, bulk sign-for and sign-out alike
        refusal = web.post(path, data={"referral_id": "r1", "csrf_token": "forged"})
        assert refusal.status_code == 403 and "CSRF" in refusal.text
        assert refusal.headers["X-Content-Type-Options"] == "nosniff"  # the page as any other
    assert web.get("/inbox").status_code == 200  # still signed in: the forged sign-out did nothing
    assert fake.actions == []  # nothing reached info-share
    page = web.get("/referrals/r1").text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = web.post("/referrals/r1/accept", data={"csrf_token": csrf, "idempotency_key": "k1"})
    assert refused.status_code == 409 and "当前状态不允许此操作" in refused.text
    assert fake.actions == [("r1", "accept", {})]
    assert web.post("/sign-out", data={"csrf_token": csrf}).status_code == 303
    assert web.get("/inbox").status_code == 303


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_bulk_sign_for_needs_csrf_and_a_valid_selection_and_says_how_many_were_signed() -> None:
    web, fake = client()
    web.get("/demo/sign-in", params={"as": "team:210624:housing_urban"})
    inbox = web.get("/inbox").text
    assert 'id="pick-r1"' in inbox and 'form="bulk-accept"' in inbox and '<label for="pick-r1">' in inbox
    csrf = csrf_of(inbox)
    assert web.post("/inbox/accept", data={"referral_id": ["r1"]}).status_code == 403
    assert web.post("/inbox/accept", data={"csrf_token": csrf}).status_code == 422
    assert web.post("/inbox/accept", data={"csrf_token": csrf, "referral_id": ["bad id<"]}).status_code == 422
    assert web.post("/inbox/accept", data={"csrf_token": csrf, "referral_id": ["r"] * 51}).status_code == 422
    assert fake.actions == []
    done = web.post("/inbox/accept", data={"csrf_token": csrf, "idempotency_key": "k",
                                           "referral_id": ["r1", "r2", "r2"]})
    assert done.status_code == 303 and done.headers["location"] == "/inbox?signed=1&pending=0&unsigned=1"
    assert sorted(a[0] for a in fake.actions) == ["r1", "r2"]  # a repeated id is one action
    assert "已签收 1 件，1 件未能签收" in web.get(done.headers["location"]).text
    assert web.get("/inbox", params={"signed": "x"}).status_code == 422


def test_the_live_inbox_answers_cards_as_html_only_to_a_session() -> None:
    web, _fake = client()
    assert web.get("/inbox/live").status_code == 401
    web.get("/demo/sign-in", params={"as": "team:210624:housing_urban"})
    live = web.get("/inbox/live").json()
    assert [c["referral_id"] for c in live["cards"]] == ["r1"]
    assert 'id="card-r1"' in live["cards"][0]["html"] and "红牌 · 超期2个工作日" in live["cards"][0]["html"]
    assert 'src="/static/live.js"' in web.get("/inbox").text
    assert web.get("/static/live.js").status_code == 200


def test_the_township_view_draws_its_agencies_as_a_table_and_a_labelled_chart() -> None:
    web, _fake = client()
    web.get("/demo/sign-in", params={"as": "team:210624:housing_urban"})
    assert web.get("/township").status_code == 403
    web.get("/demo/sign-in", params={"as": "township:210624100"})
    page = web.get("/township")
    assert page.status_code == 200 and 'id="agencies"' in page.text and "<svg" in page.text
    assert "宽甸镇派出所&lt;b&gt;" in page.text and "<b>" not in page.text.split("<svg")[1]
    chart = page.text.split("<svg")[1]
    assert ">退回</text>" in chart and ">2</text>" in chart  # each bar's words and value in text


def test_metrics_count_the_workbench_requests() -> None:
    web, _fake = client()
    web.get("/sign-in")
    metrics = web.get("/metrics")
    assert metrics.status_code == 200 and 'service="workbench"' in metrics.text


class InProcessOidc(OidcClient):
    """The OIDC client whose token endpoint is the demo IdP's, called without a network."""

    def __init__(self, idp: DemoIdp) -> None:
        super().__init__(authorization_url="http://testserver/demo-idp/authorize", token_url="unused",
                         client_id="wb", client_secret="client-secret-0123", redirect_url=CALLBACK,
                         timeout_seconds=5)
        self.idp = idp

    async def exchange(self, code: str, verifier: str) -> tuple[int, dict[str, Any]]:
        return self.idp.token({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                               "client_id": "wb", "client_secret": "client-secret-0123", "code_verifier": verifier})


CALLBACK = "http://testserver/oidc/callback"


def oidc_client() -> tuple[TestClient, DemoIdp]:
    idp = DemoIdp(client_id="wb", client_secret="client-secret-0123", redirect_url=CALLBACK, secret="j" * 32,
                  issuer="liandong-idp", audience="liandong-info-share", lifetime_seconds=600)
    settings = WorkbenchSettings(workbench_session_secret=SecretStr(KEY.decode()),  # type: ignore[call-arg]
                                 jwt_secret=SecretStr("j" * 32))
    app = create_app(Deps(settings=settings, api=FakeInfoShare(), sessions=MemorySessionStore(),
                          body_names={"township:210624100": "宽甸镇综合行政执法办公室"}, county_bodies={},
                          oidc=InProcessOidc(idp), demo_idp=idp))
    return TestClient(app, follow_redirects=False), idp


def test_oidc_code_flow_with_pkce_signs_in_through_the_idp_and_only_in_the_browser_that_started_it() -> None:
    web, _idp = oidc_client()
    assert 'href="/oidc/start"' in web.get("/sign-in").text
    start = web.get("/oidc/start")
    assert start.status_code == 303 and "liandong_wb_oidc=" in start.headers["set-cookie"]
    query = parse_qs(urlsplit(start.headers["location"]).query)
    params = {k: v[0] for k, v in query.items()}
    assert params["code_challenge_method"] == "S256" and params["redirect_uri"] == CALLBACK
    assert web.get("/demo-idp/authorize", params={**params, "redirect_uri": "https://evil.example/cb"}
                   ).status_code == 400  # never sent to a callback the IdP does not know
    assert web.get("/demo-idp/authorize", params=params).status_code == 200
    assert web.post("/demo-idp/authorize", data={**params, "as": "supervisor:all"}).status_code == 422
    granted = web.post("/demo-idp/authorize", data={**params, "as": "township:210624100"})
    assert granted.status_code == 303 and granted.headers["location"].startswith(CALLBACK)
    callback = urlsplit(granted.headers["location"])
    code = parse_qs(callback.query)["code"][0]

    stranger = TestClient(web.app, follow_redirects=False)  # another browser, with the same link: no state cookie
    assert stranger.get("/oidc/callback", params={"code": code, "state": params["state"]}).status_code == 400
    assert web.get("/oidc/callback", params={"code": code, "state": "another"}).status_code == 400
    done = web.get("/oidc/callback", params={"code": code, "state": params["state"]})
    assert done.status_code == 303 and done.headers["location"] == "/inbox"
    inbox = web.get("/inbox")
    assert inbox.status_code == 200 and "宽甸镇综合行政执法办公室" in inbox.text
    # The state is spent: the same callback again is refused, as is an IdP's error answer.
    assert web.get("/oidc/callback", params={"code": code, "state": params["state"]}).status_code == 400
    assert web.get("/oidc/callback", params={"error": "access_denied"}).status_code == 401


def test_the_demo_idp_gives_a_code_once_to_its_client_with_the_verifier_of_its_challenge() -> None:
    idp = DemoIdp(client_id="wb", client_secret="s3cret-0123456789", redirect_url=CALLBACK, secret="j" * 32,
                  issuer="i", audience="a", lifetime_seconds=60)
    verifier = "v" * 50
    form = {"grant_type": "authorization_code", "client_id": "wb", "client_secret": "s3cret-0123456789",
            "redirect_uri": CALLBACK, "code_verifier": verifier}
    code = idp.grant("team:210624:housing_urban", code_challenge(verifier))
    assert idp.token({**form, "code": code, "client_secret": "wrong"})[0] == 401
    assert idp.token({**form, "code": code, "code_verifier": "x" * 50}) == (400, {"error": "invalid_grant"})
    code = idp.grant("team:210624:housing_urban", code_challenge(verifier))
    status, answer = idp.token({**form, "code": code})
    assert status == 200 and answer["token_type"] == "Bearer"
    assert idp.token({**form, "code": code})[0] == 400  # once only
    who = signed_in(answer, 0)
    assert who is not None and who.body_id == "team:210624:housing_urban"
