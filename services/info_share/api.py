"""HTTP API of the shared feed and the case register (read-only): decode the request, query, answer per audience."""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose types are local to create_app.

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session

from schemas.api import LedgerHead, LedgerLink
from schemas.bounds import MAX_SEQUENCE, RANGE_TEXT, Instant
from schemas.events import FeedEntry
from services.common.audit import AuditEntry, AuditLog, JsonLinesAuditLog, Who
from services.common.http_metrics import HttpMetrics
from services.common.http_server import HeaderLimit
from services.common.jwt_auth import bearer_token
from services.common.principal import ANONYMOUS, Principal
from services.common.privacy import mask_text
from services.common.rate_limit import AuthFailureLimit, TokenBuckets, TooManyAuthFailures
from services.common.topics import REFERRAL_RESPONSES
from services.info_share import answers, metrics, queries
from services.info_share.action_publisher import ActionPublisher
from services.info_share.actions import ActionDesk
from services.info_share.auth import AuthError, caller_from_token, parse_work_order_keys
from services.info_share.domain.audience import sees_figures_of_all
from services.info_share.lifecycle_api import add_lifecycle_routes
from services.info_share.open311_updates import add_open311_update_routes
from services.info_share.register.database import make_engine, session_factory
from services.info_share.settings import InfoShareApiSettings
from services.reference.loader import load_reference_data

bearer = HTTPBearer(auto_error=False)
SSE_RETRY_MILLISECONDS = 3000
STREAM_PAGE = 200


def filters(
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    township: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
    department: Annotated[str | None, Query(max_length=64, description="e.g. natural_resources")] = None,
    body: Annotated[str | None, Query(max_length=80, description="e.g. team:210603:natural_resources")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[Instant | None, Query(description=f"inclusive; with a time zone; {RANGE_TEXT}")] = None,
    until: Annotated[Instant | None, Query(description=f"exclusive; with a time zone; {RANGE_TEXT}")] = None,
) -> queries.Filters:
    return queries.Filters(county=county, township=township, department=department, body=body, category=category,
                           status=status, since=since, until=until)


def create_app(settings: InfoShareApiSettings, *, audit: AuditLog | None = None) -> FastAPI:
    """The schema must already be migrated (``python -m services.info_share`` does it before serving)."""
    audit_log = audit or JsonLinesAuditLog(settings.info_share_audit_log_path)
    auth_failures = AuthFailureLimit(settings.auth_failures_per_minute, settings.auth_failure_burst)
    reads = TokenBuckets(settings.reads_per_minute, settings.read_burst)
    streams = StreamSlots(settings.streams_per_caller)
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    reference = load_reference_data()
    publisher = ActionPublisher(settings.bootstrap_servers, REFERRAL_RESPONSES.name(settings.topic_prefix),
                                settings.action_publish_timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = FastAPI(title="liandong shared enforcement-information feed and lifecycle API", version="1.2.0",
                  description="Case register and feed, personal data masked by audience; the lifecycle actions of "
                              "receiving bodies, townships and county coordination (docs/info_share.md, "
                              "docs/lifecycle.md).", lifespan=lifespan)

    def session() -> Iterator[Session]:
        with sessions() as s:
            yield s

    def caller(request: Request,
               _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        """No Authorization header: the public. Any other: a valid bearer token, checked behind the per-address
        brute-force guard (every failure counts; an address out of failures gets 429 before its token is read)."""
        authorization = request.headers.get("authorization")
        if not authorization:
            return throttled(request, ANONYMOUS)
        who = auth_failures.authenticate(client_address(request), time.monotonic(),
                                         lambda: caller_from_token(bearer_token(authorization), settings))
        request.state.caller = who  # named in the audit entry if a later check refuses it (403)
        return throttled(request, who)

    def throttled(request: Request, who: Principal) -> Principal:
        """Every read counts against its caller's budget: the token's subject, else the client address."""
        decision = reads.take(reader_key(request, who), time.monotonic())
        if not decision.allowed:
            raise ReadsExhausted(decision.retry_after_seconds, "over the read rate limit")
        return who

    def official(who: Annotated[Principal, Depends(caller)]) -> Principal:
        if who.role == "public" and who.is_anonymous:
            raise AuthError(401, "a bearer token of an enforcement body is required")
        if not who.is_official:
            raise AuthError(403, f"role {who.role!r} sees the public summary only")
        return who

    DbSession = Annotated[Session, Depends(session)]
    AnyCaller = Annotated[Principal, Depends(caller)]
    Official = Annotated[Principal, Depends(official)]
    FeedFilters = Annotated[queries.Filters, Depends(filters)]

    @app.middleware("http")
    async def time_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.QUERY_SECONDS.labels(getattr(route, "path", "unmatched"),
                                     f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response

    def refuse(request: Request, status: int, error: str, detail: str, headers: dict[str, str]) -> JSONResponse:
        """Every refusal is answered and audited the same way: one entry, never the token."""
        request_id = uuid.uuid4().hex
        known: Principal | None = getattr(request.state, "caller", None)
        who = (Who(known.subject, known.role, "jwt", client_address(request)) if known and known.subject
               else Who(client_address=client_address(request)))
        audit_log.record(AuditEntry(
            at=datetime.now(UTC), request_id=request_id, api="info_share", action="read", who=who, outcome=error,
            status=status, reason=error, problems=(("", detail),),
            what={"method": request.method, "route": getattr(request.scope.get("route"), "path", "unmatched")}))
        return JSONResponse({"error": error, "detail": detail}, status_code=status,
                            headers={**headers, "X-Request-ID": request_id})

    @app.exception_handler(AuthError)
    async def auth_failed(request: Request, exc: AuthError) -> JSONResponse:
        if exc.status == 401:
            return refuse(request, 401, "unauthenticated", exc.reason, {"WWW-Authenticate": "Bearer"})
        return refuse(request, exc.status, "forbidden", exc.reason, {})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, without the refused value echoed back (a filter or body may hold a phone number or
        # an id) and with the message masked as any error message is.
        detail = [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": mask_text(str(e.get("msg", "")))}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(ReadsExhausted)
    async def reads_exhausted(request: Request, exc: ReadsExhausted) -> JSONResponse:
        return refuse(request, 429, "rate_limited", exc.reason, {"Retry-After": str(exc.retry_after_seconds)})

    @app.exception_handler(TooManyAuthFailures)
    async def locked_out(request: Request, exc: TooManyAuthFailures) -> JSONResponse:
        return refuse(request, 429, "rate_limited", str(exc), {"Retry-After": str(exc.retry_after_seconds)})

    @app.get("/v1/feed", response_model=list[FeedEntry])
    def feed(db: DbSession, who: AnyCaller, where: FeedFilters, response: Response,
             after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the last sequence seen")] = 0,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[FeedEntry]:
        """Entries after the cursor, in order; ``X-Next-Cursor`` (and ``Link: rel=next``) give the next cursor."""
        entries = _feed_entries(db, who, where, after, limit)
        cursor = entries[-1].sequence if entries else after
        response.headers["X-Next-Cursor"] = str(cursor)
        response.headers["Link"] = f'</v1/feed?after={cursor}&limit={limit}>; rel="next"'
        return entries

    def stream_room(request: Request, who: AnyCaller) -> None:
        """Checked before the stream's answer starts (a refusal after it would be a broken 200)."""
        if streams.count(reader_key(request, who)) >= settings.streams_per_caller:
            raise ReadsExhausted(SSE_RETRY_MILLISECONDS // 1000,
                                 f"at most {settings.streams_per_caller} live streams open per caller")

    @app.get("/v1/feed/stream", response_class=EventSourceResponse, dependencies=[Depends(stream_room)])
    async def feed_stream(request: Request, who: AnyCaller, where: FeedFilters,
                          cursor: Annotated[int, Depends(resume_cursor)]) -> AsyncIterator[ServerSentEvent]:
        """Live feed (Server-Sent Events): every entry after ``Last-Event-ID`` (or ``after``), then new ones as they
        arrive; each event's id is its sequence, so a reconnecting client resumes exactly where it stopped."""

        def next_page(from_sequence: int) -> list[FeedEntry]:
            with sessions() as db:
                return _feed_entries(db, who, where, from_sequence, STREAM_PAGE)

        key = reader_key(request, who)
        streams.open(key)
        metrics.LIVE_STREAMS.inc()
        try:
            yield ServerSentEvent(retry=SSE_RETRY_MILLISECONDS, comment=f"liandong feed after {cursor}")
            while True:
                entries = await anyio.to_thread.run_sync(next_page, cursor)
                for entry in entries:
                    yield ServerSentEvent(data=entry, id=str(entry.sequence), event="feed_entry")
                    cursor = entry.sequence
                if len(entries) < STREAM_PAGE:
                    await asyncio.sleep(settings.feed_poll_seconds)
        finally:
            metrics.LIVE_STREAMS.dec()
            streams.close(key)

    def _feed_entries(db: Session, who: Principal, where: queries.Filters, after: int, limit: int) -> list[FeedEntry]:
        rows = queries.feed_page(db, reference=reference, filters=where, after=after, limit=limit)
        parties = queries.parties_of(db, {r.case_id for r in rows}) if who.is_official else {}
        tallies = answers.Tallies()
        entries = answers.feed_entries(rows, caller=who, parties=parties, reference=reference, tallies=tallies)
        tallies.flush()
        return entries

    @app.get("/v1/cases")
    def cases(db: DbSession, who: AnyCaller, where: FeedFilters,
              after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="next_cursor of the previous page")] = 0,
              limit: Annotated[int, Query(ge=1, le=500)] = 50,
              mine: Annotated[bool, Query(description="only cases the caller is a party to")] = False,
              ) -> dict[str, Any]:
        """Cases in the order they were opened, filtered; every case is listed, its detail decided by audience."""
        if mine and not who.is_official:
            raise AuthError(401 if who.is_anonymous else 403, "mine=true needs an enforcement body's token")
        found = queries.list_cases(db, reference=reference, filters=where, after=after, limit=limit,
                                   party_of=who.body_ids if mine else None)
        ids = {c.case_id for c in found}
        tallies = answers.Tallies()
        official_view = who.is_official  # the public sees no report content: no need to read it
        items = answers.case_items(found, caller=who, parties=queries.parties_of(db, ids) if official_view else {},
                                   reports=queries.reports_of(db, ids) if official_view else {}, tallies=tallies)
        tallies.flush()
        return {"cases": items, "next_cursor": found[-1].opened_sequence if found else after}

    @app.get("/v1/cases/nearby")
    def nearby(db: DbSession, who: Official,
               latitude: Annotated[float, Query(ge=-90, le=90)], longitude: Annotated[float, Query(ge=-180, le=180)],
               radius_m: Annotated[float, Query(gt=0)] = 200.0,
               category: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
        """Open cases near a point (WGS-84), nearest first: is what I see already reported?"""
        if radius_m > settings.nearby_max_radius_m:
            raise HTTPException(422, f"radius_m is limited to {settings.nearby_max_radius_m:g}")
        near = queries.open_cases_near(db, latitude=latitude, longitude=longitude, radius_m=radius_m,
                                       category=category, limit=limit)
        ids = {c.case_id for c, _ in near}
        tallies = answers.Tallies()
        items = answers.case_items([c for c, _ in near], caller=who, parties=queries.parties_of(db, ids),
                                   reports=queries.reports_of(db, ids), tallies=tallies,
                                   distances={c.case_id: d for c, d in near})
        tallies.flush()
        return {"cases": items}

    @app.get("/v1/cases/{case_id}")
    def case(db: DbSession, who: AnyCaller, case_id: str) -> dict[str, Any]:
        """One case with its parties, reports, referrals and full timeline, as the caller may see them."""
        bundle = queries.case_bundle(db, case_id=case_id)
        if bundle is None:
            raise HTTPException(404, f"no case {case_id}")
        tallies = answers.Tallies()
        answer = answers.case_detail(bundle, caller=who, tallies=tallies)
        tallies.flush()
        return answer

    @app.get("/v1/stats/evaluation")
    def evaluation(db: DbSession, who: Official, where: FeedFilters,
                   kind: Annotated[str | None, Query(pattern="^(township_office|county_team|dispatched_agency|"
                                                              "county_coordination)$")] = None) -> dict[str, Any]:
        """Figures per receiving body and per township, over the cases the caller may see: its own cases (as a
        party), its county's (county coordination), or all (supervisor)."""
        scope = queries.StatsScope(all_cases=sees_figures_of_all(who), county=who.county_scope,
                                   party_of=who.body_ids)
        bodies, townships = queries.figures(db, scope=scope, filters=where, now=datetime.now(UTC))
        answer = answers.evaluation_answer(bodies, townships, reference=reference, kind=kind)
        answer["scope"] = "all" if scope.all_cases else (f"county:{scope.county}" if scope.county else "own_cases")
        return answer

    @app.get("/v1/ledger/head", response_model=LedgerHead)
    def ledger_head(db: DbSession, _who: AnyCaller) -> LedgerHead:
        """The ledger's last entry (sequence and chain hash): open to everyone, it holds no case content. Keep it, or
        check a kept copy of the feed against it (``python -m services.info_share.verify_feed``)."""
        sequence, head_hash = queries.ledger_head(db)
        return LedgerHead(sequence=sequence, hash=head_hash)

    @app.get("/v1/ledger/links", response_model=list[LedgerLink])
    def ledger_links(db: DbSession, _who: AnyCaller, response: Response,
                     after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the last sequence seen")] = 0,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[LedgerLink]:
        """The chain without contents (sequence, prev_hash, hash), in order: what a copy of the feed that is
        filtered, masked or missing entries the caller may not see is checked against."""
        links = [LedgerLink(sequence=s, prev_hash=p, hash=h)
                 for s, p, h in queries.ledger_links(db, after=after, limit=limit)]
        response.headers["X-Next-Cursor"] = str(links[-1].sequence if links else after)
        return links

    @app.get("/v1/stats/summary")
    def summary(db: DbSession, _who: AnyCaller) -> dict[str, Any]:
        """Counts only (no case content): open to everyone; a token sent is checked all the same."""
        return queries.summary(db)

    desk = ActionDesk(sessions=sessions, publisher=publisher, wait_seconds=settings.action_wait_seconds)
    add_lifecycle_routes(app, sessions=sessions, reference=reference, official=official, refuse=refuse, desk=desk)
    add_open311_update_routes(app, sessions=sessions, desk=desk, refuse=refuse,
                              keys=parse_work_order_keys(settings.work_order_api_keys.get_secret_value()))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # Added last, so outermost of the application's middleware: sees the exceptions Starlette answers with 500.
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    app.add_middleware(HttpMetrics, service="info-share")
    return app


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


class ReadsExhausted(Exception):
    """A caller over its read budget or its number of open streams: 429 with Retry-After."""

    def __init__(self, retry_after_seconds: int, reason: str) -> None:
        super().__init__(reason)
        self.retry_after_seconds = max(1, retry_after_seconds)
        self.reason = reason


class StreamSlots:
    """Live streams open per caller key (one process: streams are held by the process serving them)."""

    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._open: Counter[str] = Counter()

    def count(self, key: str) -> int:
        return self._open[key]

    def open(self, key: str) -> None:
        self._open[key] += 1

    def close(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]


def reader_key(request: Request, who: Principal) -> str:
    return f"sub:{who.subject}" if who.subject else f"addr:{client_address(request)}"


def resume_cursor(after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE,
                                               description="used when no Last-Event-ID is sent")] = 0,
                  last_event_id: Annotated[str | None, Header()] = None) -> int:
    """Where a stream starts: the browser's ``Last-Event-ID`` on reconnection wins over ``after``."""
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        cursor = int(last_event_id)
    except ValueError:
        raise HTTPException(400, "Last-Event-ID must be a feed sequence number") from None
    if not 0 <= cursor <= MAX_SEQUENCE:
        raise HTTPException(400, f"Last-Event-ID must be a feed sequence number from 0 to {MAX_SEQUENCE}")
    return cursor
