"""The workbench's pages: sign-in, inbox, referral and case, coordination desk, evaluation — each a thin route.

Every page reads info-share's lifecycle API with the signed-in person's own token, and every form posts back here
with the session's CSRF token; a refusal from info-share (403, 409, 422…) is shown on the page with its status.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import asyncio
import hashlib
import hmac
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.http_metrics import HttpMetrics
from services.workbench.adapters.demo_idp import DemoIdp, demo_token
from services.workbench.adapters.lifecycle_client import LifecycleClient
from services.workbench.adapters.oidc import PRE_SESSION_SECONDS, OidcClient, signed_in
from services.workbench.adapters.session_store import MemorySessionStore
from services.workbench.domain import chart, labels
from services.workbench.domain.sessions import (
    COOKIE_NAME,
    Session,
    cookie_value,
    csrf_ok,
    new_session,
    session_id_from_cookie,
)
from services.workbench.settings import WorkbenchSettings

HERE = Path(__file__).resolve().parent
CHINA = timezone(timedelta(hours=8))
ROUTING_WORDS = {"county_department": "县直部门职责：移送主管执法队伍",
                 "dispatched_agency": "派驻机构职责：移送派驻机构",
                 "delegated_to_township": "已赋权乡镇（一乡一单）：由乡镇自行办理",
                 "no_competent_body": "无对应主管机关：提交县级协调"}
# A referral id as info-share issues them; anything else in a bulk form is refused before info-share is asked.
REFERRAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")
OIDC_COOKIE = "liandong_wb_oidc"  # the pending sign-in's state, signed; only sent to /oidc/…
BULK_MOST = 50  # one bulk sign-for: each is one action waiting for dispatch's verdict


class AnsweredInstead(Exception):
    """Raised by a dependency whose response is the answer: the route does not run."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Deps:
    settings: WorkbenchSettings
    api: LifecycleClient
    sessions: MemorySessionStore
    body_names: dict[str, str]
    county_bodies: dict[str, list[tuple[str, str]]]  # county code -> (body id, name), for 指定管辖
    oidc: OidcClient | None = None  # sign-in through the configured IdP
    demo_idp: DemoIdp | None = None  # the local stand-in for that IdP (make run, tests)


def create_app(deps: Deps) -> FastAPI:
    app = FastAPI(title="liandong workbench", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(labels=labels, routing_words=ROUTING_WORDS, names=deps.body_names,
                                 demo=deps.settings.workbench_demo_sign_in, oidc=deps.oidc is not None)
    templates.env.filters["when"] = _when
    templates.env.filters["name"] = lambda body_id: deps.body_names.get(body_id or "", body_id or "")
    key = deps.settings.workbench_session_secret.get_secret_value().encode()

    def current(request: Request) -> Session | None:
        session_id = session_id_from_cookie(request.cookies.get(COOKIE_NAME), key)
        return deps.sessions.get(session_id, time.time()) if session_id else None

    Current = Annotated[Session | None, Depends(current)]

    def page(request: Request, name: str, session: Session | None, status: int = 200, **context: Any
             ) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"session": session, **context}, status_code=status)

    async def posted_by(request: Request, session: Current) -> Session:
        """The session of a form posted with its CSRF token; else the 403 page is the answer and the route never
        runs."""
        form = await request.form()
        submitted = form.get("csrf_token")
        if session is None or not csrf_ok(session, submitted if isinstance(submitted, str) else None):
            raise AnsweredInstead(page(request, "error.html", session, 403,
                                       problem="请求被拒绝：表单校验码缺失或无效（CSRF），请从页面重新提交"))
        return session

    Posted = Annotated[Session, Depends(posted_by)]

    @app.exception_handler(AnsweredInstead)
    async def answered_instead(request: Request, exc: AnsweredInstead) -> Response:
        return exc.response

    def add_demo_idp_routes(idp: DemoIdp) -> None:
        """The local demo IdP's authorization page and token endpoint (docs/workbench.md)."""

        @app.get("/demo-idp/authorize", response_class=HTMLResponse)
        def idp_authorize(request: Request) -> HTMLResponse:
            params = {k: v[:512] for k, v in request.query_params.items()}
            problem = idp.request_ok(params)
            if problem is not None:
                return page(request, "error.html", None, 400, problem=f"演示身份认证：{problem}")
            return page(request, "demo_idp.html", None, params=params)

        @app.post("/demo-idp/authorize", response_model=None)
        async def idp_grant(request: Request) -> Response:
            form = {k: v[:512] for k, v in (await request.form()).items() if isinstance(v, str)}
            problem = idp.request_ok(form)
            if problem is not None:
                return page(request, "error.html", None, 400, problem=f"演示身份认证：{problem}")
            try:
                code = idp.grant(form.get("as", "").strip(), form["code_challenge"])
            except ValueError as exc:
                return page(request, "demo_idp.html", None, 422, params=form, error=str(exc))
            query = urlencode({"code": code, "state": form["state"]})
            return RedirectResponse(f"{idp.redirect_url}?{query}", status_code=303)

        @app.post("/demo-idp/token", response_model=None)
        async def idp_token(request: Request) -> JSONResponse:
            form = {k: v[:512] for k, v in (await request.form()).items() if isinstance(v, str)}
            status, body = idp.token(form)
            return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def to_sign_in() -> RedirectResponse:
        return RedirectResponse("/sign-in", status_code=303)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Nothing is loaded from elsewhere and no page may be framed by another site.
        response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                       "frame-ancestors 'none'; form-action 'self'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")  # pages carry masked personal data
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_model=None)
    def home(session: Current) -> RedirectResponse:
        return RedirectResponse("/inbox" if session else "/sign-in", status_code=303)

    @app.get("/sign-in", response_class=HTMLResponse)
    def sign_in_page(request: Request, session: Current) -> HTMLResponse:
        return page(request, "sign_in.html", session)

    @app.get("/demo/sign-in", response_model=None)
    def demo_sign_in(request: Request, as_body: Annotated[str, Query(alias="as", max_length=80)]
                     ) -> Response:
        if not deps.settings.workbench_demo_sign_in:
            return page(request, "error.html", None, 404, problem="演示登录未启用")
        secret = deps.settings.jwt_secret
        assert secret is not None  # the settings refuse demo sign-in without the key
        try:
            subject, token = demo_token(as_body, secret=secret.get_secret_value(),
                                        issuer=deps.settings.jwt_issuer, audience=deps.settings.jwt_audience,
                                        lifetime_seconds=deps.settings.workbench_session_seconds)
        except ValueError as exc:
            return page(request, "error.html", None, 422, problem=str(exc))
        return start_session(subject, as_body, token, deps.settings.workbench_session_seconds)

    def start_session(subject: str, body_id: str, token: str, lifetime_seconds: int) -> RedirectResponse:
        session = new_session(subject=subject, body_id=body_id, token=token, now=time.time(),
                              lifetime_seconds=lifetime_seconds)
        deps.sessions.add(session)
        response = RedirectResponse("/inbox", status_code=303)
        response.set_cookie(COOKIE_NAME, cookie_value(session.session_id, key),
                            max_age=lifetime_seconds, httponly=True, samesite="lax",
                            secure=deps.settings.workbench_cookie_secure, path="/")
        return response

    @app.get("/oidc/start", response_model=None)
    def oidc_start(request: Request) -> Response:
        if deps.oidc is None:
            return page(request, "error.html", None, 404, problem="统一身份认证登录未配置")
        state, location = deps.oidc.start()
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(OIDC_COOKIE, cookie_value(state, key), max_age=PRE_SESSION_SECONDS, httponly=True,
                            samesite="lax", secure=deps.settings.workbench_cookie_secure, path="/oidc")
        return response

    @app.get("/oidc/callback", response_model=None)
    async def oidc_callback(request: Request, code: Annotated[str | None, Query(max_length=512)] = None,
                            state: Annotated[str | None, Query(max_length=128)] = None,
                            error: Annotated[str | None, Query(max_length=128)] = None) -> Response:
        if deps.oidc is None:
            return page(request, "error.html", None, 404, problem="统一身份认证登录未配置")
        if error:
            return page(request, "error.html", None, 401, problem=f"身份认证未完成（{error}），请重新登录")
        # The state must be this browser's own pending sign-in: a callback started elsewhere is refused.
        mine = session_id_from_cookie(request.cookies.get(OIDC_COOKIE), key)
        verifier = deps.oidc.take(state) if state and mine and hmac.compare_digest(mine, state) else None
        if not code or verifier is None:
            return page(request, "error.html", None, 400, problem="登录请求无效或已过期，请从登录页重新开始")
        status, answer = await deps.oidc.exchange(code, verifier)
        if status >= 500:
            return page(request, "error.html", None, 503, problem="身份认证服务暂不可用，请稍后重试")
        now = time.time()
        who = signed_in(answer, now) if status == 200 else None
        if who is None:
            return page(request, "error.html", None, 401, problem="身份认证未通过，请重新登录")
        lifetime = int(min(deps.settings.workbench_session_seconds, who.expires_at - now))
        if lifetime <= 0:
            return page(request, "error.html", None, 401, problem="身份凭证已过期，请重新登录")
        response = start_session(who.subject, who.body_id, who.token, lifetime)
        response.delete_cookie(OIDC_COOKIE, path="/oidc")
        return response

    if deps.demo_idp is not None:
        add_demo_idp_routes(deps.demo_idp)

    @app.post("/sign-out", response_model=None)
    async def sign_out(session: Posted) -> Response:
        deps.sessions.remove(session.session_id)
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    async def inbox_page(request: Request, session: Session, state: str | None, category: str | None, *,
                         status: int = 200, message: str | None = None, error: str | None = None) -> Response:
        answer = await deps.api.get(session.token, "/v1/referrals",
                                    {"needs_action": "true", "state": state, "category": category})
        cards = answer.body.get("referrals", []) if answer.ok else []
        everything = await deps.api.get(session.token, "/v1/referrals", {"needs_action": "true"})
        categories = sorted({(c["category_code"], c.get("category_name") or c["category_code"])
                             for c in everything.body.get("referrals", [])}) if everything.ok else []
        return page(request, "inbox.html", session, status if answer.ok else answer.status, cards=cards,
                    state=state or "", category=category or "", categories=categories,
                    idempotency_key=uuid.uuid4().hex, message=message,
                    error=error or (None if answer.ok else labels.refusal_words(answer.status, answer.body)))

    @app.get("/inbox", response_model=None)
    async def inbox(request: Request, session: Current,
                    state: Annotated[str | None, Query(max_length=32)] = None,
                    category: Annotated[str | None, Query(max_length=64)] = None,
                    signed: Annotated[int | None, Query(ge=0, le=BULK_MOST)] = None,
                    pending: Annotated[int | None, Query(ge=0, le=BULK_MOST)] = None,
                    unsigned: Annotated[int | None, Query(ge=0, le=BULK_MOST)] = None) -> Response:
        if session is None:
            return to_sign_in()
        message = None
        if signed is not None:
            message = (f"已签收 {signed} 件" + (f"，{pending} 件已提交、等待调度确认" if pending else "")
                       + (f"，{unsigned} 件未能签收（请打开该件查看原因）" if unsigned else ""))
        return await inbox_page(request, session, state, category, message=message)

    @app.get("/inbox/live", response_model=None)
    async def inbox_live(session: Current, state: Annotated[str | None, Query(max_length=32)] = None,
                         category: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        """The inbox's cards as HTML fragments, for the page's polling script: the browser never sees a token."""
        if session is None:
            return JSONResponse({"detail": "not signed in"}, status_code=401)
        answer = await deps.api.get(session.token, "/v1/referrals",
                                    {"needs_action": "true", "state": state, "category": category})
        if not answer.ok:
            return JSONResponse({"detail": labels.refusal_words(answer.status, answer.body)},
                                status_code=answer.status)
        card_macro = templates.env.get_template("_card.html").module.referral_card  # type: ignore[attr-defined]
        return JSONResponse({"cards": [{"referral_id": c["referral_id"], "html": str(card_macro(c))}
                                       for c in answer.body.get("referrals", [])]})

    @app.post("/inbox/accept", response_model=None)
    async def bulk_accept(request: Request, session: Posted) -> Response:
        """签收所选: one accept per ticked card, each with its own idempotency key derived from the page's."""
        form = await request.form()
        picked = [v for v in form.getlist("referral_id") if isinstance(v, str)]
        problem = None
        if not picked:
            problem = "未选择任何事项：请先勾选要签收的移送"
        elif len(picked) > BULK_MOST:
            problem = f"一次最多签收 {BULK_MOST} 件"
        elif not all(REFERRAL_ID.match(v) for v in picked):
            problem = "所选事项编号无效"
        if problem is not None:
            return await inbox_page(request, session, None, None, status=422, error=problem)
        page_key = form.get("idempotency_key")
        page_key = page_key if isinstance(page_key, str) and page_key else uuid.uuid4().hex

        async def accept(referral_id: str) -> str:
            key = hashlib.sha256(f"{page_key}:{referral_id}".encode()).hexdigest()[:32]
            answer = await deps.api.act(session.token, referral_id, "accept", {}, key)
            if answer.status == 200 and answer.body.get("status") == "applied":
                return "signed"
            return "pending" if answer.status == 202 else "unsigned"  # 202: dispatch has not answered yet

        done = await asyncio.gather(*(accept(r) for r in dict.fromkeys(picked)))
        counts = {outcome: done.count(outcome) for outcome in ("signed", "pending", "unsigned")}
        return RedirectResponse(f"/inbox?{urlencode(counts)}", status_code=303)

    async def referral_page(request: Request, session: Session, referral_id: str, *, status: int = 200,
                            message: str | None = None, error: str | None = None) -> Response:
        card = await deps.api.get(session.token, f"/v1/referrals/{referral_id}")
        if not card.ok:
            return page(request, "error.html", session, card.status,
                        problem=error or labels.refusal_words(card.status, card.body))
        case = await deps.api.get(session.token, f"/v1/cases/{card.body['case_id']}")
        timeline = await deps.api.get(session.token, f"/v1/cases/{card.body['case_id']}/timeline")
        return page(request, "referral.html", session, status, card=card.body, case=case.body if case.ok else {},
                    transitions=timeline.body.get("transitions", []) if timeline.ok else card.body.get("timeline", []),
                    idempotency_key=uuid.uuid4().hex, message=message, error=error,
                    candidates=deps.county_bodies.get(card.body.get("county_code", ""), []))

    @app.get("/referrals/{referral_id}", response_model=None)
    async def show_referral(request: Request, session: Current, referral_id: str,
                            done: Annotated[str | None, Query(max_length=32)] = None) -> Response:
        if session is None:
            return to_sign_in()
        words = dict(labels.ACTIONS.values()).get(done or "")
        return await referral_page(request, session, referral_id, message=f"已完成：{words}" if words else None)

    @app.post("/referrals/{referral_id}/{segment}", response_model=None)
    async def act(request: Request, session: Posted, referral_id: str, segment: str) -> Response:
        if segment not in labels.SEGMENTS:
            return page(request, "error.html", session, 404, problem=f"没有此操作：{segment}")
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        answer = await deps.api.act(session.token, referral_id, segment, action_body(segment, fields),
                                    fields.get("idempotency_key") or uuid.uuid4().hex)
        if answer.status == 200 and answer.body.get("status") == "applied":
            return RedirectResponse(f"/referrals/{referral_id}?done={segment}", status_code=303)
        if answer.status == 202:
            return await referral_page(request, session, referral_id, status=202,
                                       message="已提交，等待调度确认；稍后刷新本页查看结果")
        status = answer.status if answer.status >= 400 else 422  # 200 "refused": dispatch said no
        return await referral_page(request, session, referral_id, status=min(status, 503),
                                   error=labels.refusal_words(status, answer.body))

    async def lists_page(request: Request, session: Session | None, path: str, name: str, *lists: str) -> Response:
        """The page ``name`` showing the lists ``lists`` of what info-share answers at ``path`` (empty, with the
        refusal in words, when it refuses)."""
        if session is None:
            return to_sign_in()
        answer = await deps.api.get(session.token, path)
        return page(request, name, session, 200 if answer.ok else answer.status,
                    **{key: answer.body.get(key, []) for key in lists},
                    error=None if answer.ok else labels.refusal_words(answer.status, answer.body))

    @app.get("/coordination", response_model=None)
    async def coordination(request: Request, session: Current) -> Response:
        return await lists_page(request, session, "/v1/coordination/disputes", "coordination.html",
                                "disputes", "overdue")

    @app.get("/evaluation", response_model=None)
    async def evaluation(request: Request, session: Current) -> Response:
        return await lists_page(request, session, "/v1/stats/evaluation", "evaluation.html", "bodies", "townships")

    @app.get("/township", response_model=None)
    async def township(request: Request, session: Current) -> Response:
        """雙重管理: the dispatched agencies working in the township, their figures as a table and a chart."""
        if session is None:
            return to_sign_in()
        if not session.body_id.startswith("township:"):
            return page(request, "error.html", session, 403, problem="本页仅供乡镇（街道）查看其派驻机构")
        code = session.body_id.partition(":")[2]
        answer = await deps.api.get(session.token, "/v1/stats/evaluation")
        if not answer.ok:
            return page(request, "error.html", session, answer.status,
                        problem=labels.refusal_words(answer.status, answer.body))
        mine = next((t for t in answer.body.get("townships", []) if t.get("township_code") == code), None)
        agencies = (mine or {}).get("dispatched_agencies", [])
        name = deps.body_names.get(session.body_id, code)
        return page(request, "township.html", session, agencies=agencies, township_name=name,
                    series=chart.SERIES,
                    svg=Markup(chart.agencies_svg(agencies, f"{name}派驻机构办理情况")))  # escaped in chart

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/evaluation.csv", response_model=None)
    async def evaluation_csv(session: Current) -> Response:
        if session is None:
            return to_sign_in()
        answer = await deps.api.get_text(session.token, "/v1/stats/evaluation.csv")
        if not answer.ok:
            return Response(f"评价数据不可用（{answer.status}）", status_code=answer.status,
                            media_type="text/plain; charset=utf-8")
        return Response(answer.text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="evaluation.csv"'})

    # Outermost, as in the other services: counts the requests (5xx included) in liandong_http_request_duration_…
    app.add_middleware(HttpMetrics, service="workbench")
    return app


def action_body(segment: str, form: dict[str, str]) -> dict[str, Any]:
    """The JSON an action's form stands for; info-share validates it (and answers 422 in words if it is wrong)."""
    text = {k: v.strip() for k, v in form.items()}
    body: dict[str, Any] = {}
    if segment == "return":
        body["reason_code"] = text.get("reason_code", "")
        if text.get("reason"):
            body["reason"] = text["reason"]
    elif segment in ("extension", "rework"):
        body["reason"] = text.get("reason", "")
        if segment == "rework" and text.get("due_by"):
            # A date picked on the page: the end of that working day, China time.
            body["due_by"] = f"{text['due_by']}T18:00:00+08:00"
    elif segment == "feedback":
        body["outcome"] = text.get("outcome", "")
        if text.get("note"):
            body["note"] = text["note"]
        body["evidence"] = [line.strip() for line in text.get("evidence", "").splitlines() if line.strip()]
    elif segment in ("verify", "close"):
        if text.get("note"):
            body["note"] = text["note"]
    elif segment == "decision":
        body["body_id"] = text.get("body_id", "")
        if text.get("reason"):
            body["reason"] = text["reason"]
    return body


def _when(iso: str | None) -> str:
    """An API time as China time, to the minute."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
