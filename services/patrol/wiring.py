"""The one place that wires the patrol service: settings → adapters → service → FastAPI app with both routers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import http_metrics
from services.common.audit import AuditLog, JsonLinesAuditLog
from services.common.http_server import HeaderLimit
from services.common.rate_limit import AuthFailureLimit, Buckets, TokenBuckets
from services.common.topics import FINDINGS
from services.patrol.adapters.auth import Authenticator
from services.patrol.adapters.case_views.store import SqlCaseLookup
from services.patrol.adapters.idempotency_store import GroupCommitStore, SqlIdempotencyStore, make_store_engine
from services.patrol.adapters.publisher import FindingPublisher
from services.patrol.adapters.shared_buckets import SharedTokenBuckets
from services.patrol.domain.access import parse_adjoining
from services.patrol.domain.intake import IntakeLimits, Problem
from services.patrol.domain.register import CaseLookup
from services.patrol.entrypoints import errors, json_api, open311, open311_format, openapi_doc
from services.patrol.entrypoints.deps import Patrol
from services.patrol.entrypoints.guards import FORM_TYPES, JSON_TYPES, WriteGuard, WriteRule
from services.patrol.ports import BrokerUnavailable, IdempotencyStore
from services.patrol.service import Context, IntakeService, Refused
from services.patrol.settings import PatrolSettings
from services.reference.loader import load_reference_data


def create_app(settings: PatrolSettings, *, publisher: FindingPublisher | None = None,
               store: IdempotencyStore | None = None, lookup: CaseLookup | None = None,
               audit: AuditLog | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    reference = load_reference_data()
    publisher = publisher or FindingPublisher(settings.bootstrap_servers, FINDINGS.name(settings.topic_prefix),
                                              settings.publish_timeout_seconds, settings.connect_timeout_seconds,
                                              settings.publish_linger_ms)
    audit = audit or JsonLinesAuditLog(settings.audit_log_path)
    adjoining = parse_adjoining(settings.adjoining_townships)
    service = IntakeService(
        reference=reference, publisher=publisher, audit=audit,
        store=store or GroupCommitStore(SqlIdempotencyStore(make_store_engine(settings.patrol_store_url))),
        limits=IntakeLimits(timedelta(seconds=settings.max_future_skew_seconds),
                            timedelta(days=settings.max_age_days), adjoining),
        retry_after_seconds=settings.retry_after_seconds, **({"clock": clock} if clock else {}))
    limiter, auth_failures = _rate_limits(settings)
    patrol = Patrol(settings=settings, service=service, authenticator=Authenticator(settings),
                    limiter=limiter, auth_failures=auth_failures,
                    lookup=lookup or SqlCaseLookup(settings.case_view_url), store=service.store,
                    publisher=publisher, adjoining=adjoining)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        warm = asyncio.create_task(_connect_early(publisher))
        yield
        warm.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warm
        await publisher.close()
        for resource in (audit, service.store):
            close = getattr(resource, "close", None)
            if close is not None:
                close()

    # FastAPI's native OpenTelemetry is off: the service reports through Prometheus (metrics.py), and asking on
    # every request whether an OpenTelemetry provider is configured cost ~3 % of a single finding's CPU.
    app = FastAPI(title="liandong patrol service", version="1.1.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="The only way findings enter liandong: the JSON API under /v1 and Open311 GeoReport "
                              "v2 under /open311/v2. See docs/patrol.md.")
    app.state.patrol = patrol
    errors.install(app)
    json_router = json_api.router(openapi_doc.submission_examples(reference, datetime.now(UTC)))
    app.include_router(json_router)
    app.include_router(open311.router())

    # Middleware, innermost first.
    app.add_middleware(WriteGuard, rules=_write_rules(settings), on_refused=_on_guard_refusal(patrol))
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    app.add_middleware(RequestTiming)  # outermost: also times and names the guard's refusals

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(_metrics_registry()), media_type=CONTENT_TYPE_LATEST)

    app.openapi = lambda: openapi_doc.document(app, settings.max_batch_items)  # type: ignore[method-assign]
    return app


class RequestTiming:
    """Gives every request its id (``request.state.request_id``, answered as ``X-Request-ID``) and times it.

    A plain ASGI middleware: ``@app.middleware("http")`` (BaseHTTPMiddleware) runs every request in an extra task
    group with memory streams, which cost more than the whole validation of a finding.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode("latin-1"))]}
            await send(message)

        raised = False
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # Starlette answers it 500 outside this middleware: count it here, where it passes
            raised = True
            raise
        finally:
            http_metrics.count_request("patrol", scope, status, raised, started)


def _rate_limits(settings: PatrolSettings) -> tuple[Buckets, AuthFailureLimit]:
    """In memory for one process; in files when several share them (LIANDONG_RATE_LIMIT_STATE_DIR)."""
    if not settings.rate_limit_state_dir:
        return (TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst),
                AuthFailureLimit(settings.auth_failures_per_minute, settings.auth_failure_burst))
    state = Path(settings.rate_limit_state_dir)
    failures = SharedTokenBuckets(state / "auth-failures", settings.auth_failures_per_minute,
                                  settings.auth_failure_burst)
    return (SharedTokenBuckets(state / "requests", settings.rate_limit_per_minute, settings.rate_limit_burst),
            AuthFailureLimit(settings.auth_failures_per_minute, settings.auth_failure_burst, failures))


def _metrics_registry() -> CollectorRegistry:
    """This process's metrics, or every worker's when they run in prometheus_client's multiprocess mode."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def _connect_early(publisher: FindingPublisher) -> None:
    # Learn the topic id at start so status lookups see accepted-but-unregistered findings before the first write.
    with contextlib.suppress(BrokerUnavailable):
        await publisher.scope()


def _write_rules(settings: PatrolSettings) -> list[WriteRule]:
    def as_json(status: int, reason: str, message: str, _scope: Scope) -> Response:
        return errors.json_error(status, reason, message, [Problem("body", message)])

    def as_open311(status: int, _reason: str, message: str, scope: Scope) -> Response:
        return open311_format.errors(open311_format.format_of_path(scope["path"]), status, [message])

    return [
        WriteRule(re.compile(r"/v1/findings"), settings.max_body_bytes, JSON_TYPES, as_json),
        WriteRule(re.compile(r"/v1/findings/batch"), settings.max_batch_body_bytes, JSON_TYPES, as_json),
        WriteRule(re.compile(r"/open311/v2/requests\.(json|xml)"), settings.max_body_bytes, FORM_TYPES, as_open311),
    ]


def _on_guard_refusal(patrol: Patrol) -> Callable[[Scope, int, str, str], None]:
    def refused(scope: Scope, status: int, reason: str, message: str) -> None:
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            principal = patrol.principal(headers.get("authorization"), headers.get("x-api-key"))
        except Exception:  # an invalid credential changes nothing here: the refusal stands, audited as anonymous
            principal = None
        api = "open311" if path.startswith(errors.OPEN311_PREFIX) else "json"
        client = scope.get("client")
        ctx = Context(request_id=str(scope.get("state", {}).get("request_id", "")), api=api,
                      action=errors.WRITE_ACTIONS.get(path, "write"), principal=principal,
                      client_address=client[0] if client else "")
        patrol.service.record(ctx, Refused(status, reason, (Problem("body", message),)), {})
    return refused
