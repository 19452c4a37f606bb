"""HTTP entry point of the patrol service: decode, authenticate, hand to intake, publish, answer."""


import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.api import ErrorResponse, FieldError, FindingAccepted, FindingSubmission
from services.common.envelope import encode
from services.common.topics import FINDINGS
from services.patrol import metrics
from services.patrol.auth import AuthError, Principal, principal_from_token
from services.patrol.intake import IntakeLimits, Rejected, build_finding
from services.patrol.publisher import BrokerUnavailable, FindingPublisher
from services.patrol.settings import PatrolSettings
from services.reference.loader import load_reference_data

RETRY_AFTER_SECONDS = "5"
bearer = HTTPBearer(auto_error=False)


def _error(status: int, error: str, detail: str, fields: list[FieldError] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=error, detail=detail, field_errors=fields or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def create_app(settings: PatrolSettings, publisher: FindingPublisher | None = None) -> FastAPI:
    reference = load_reference_data()
    publisher = publisher or FindingPublisher(settings.bootstrap_servers, FINDINGS.name(settings.topic_prefix),
                                              settings.publish_timeout_seconds)
    limits = IntakeLimits()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = FastAPI(title="liandong patrol service", version="1.0.0", lifespan=lifespan,
                  description="The only way findings enter liandong: JSON API (and Open311 GeoReport v2).")

    @app.middleware("http")
    async def time_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.REQUEST_SECONDS.labels("patrol", getattr(route, "path", "unmatched"),
                                       f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_failed(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [FieldError(field=".".join(str(p) for p in err["loc"] if p != "body"), message=err["msg"])
                  for err in exc.errors()]
        metrics.FINDINGS_REJECTED.labels("malformed").inc()
        return _error(422, "invalid_request", "the request body does not match the schema", fields)

    @app.exception_handler(AuthError)
    async def auth_failed(_request: Request, exc: AuthError) -> JSONResponse:
        metrics.FINDINGS_REJECTED.labels("unauthenticated" if exc.status == 401 else "forbidden").inc()
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, "unauthenticated" if exc.status == 401 else "forbidden", exc.reason,
                      headers=headers)

    def current_principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None:
            raise AuthError(401, "a bearer token is required")
        return principal_from_token(credentials.credentials, settings)

    @app.post("/v1/findings", status_code=202, response_model=FindingAccepted,
              responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                         422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
    async def submit_finding(submission: FindingSubmission,
                             principal: Annotated[Principal, Depends(current_principal)]) -> Response:
        received_at = datetime.now(UTC)
        try:
            finding, key = build_finding(submission, principal, reference, received_at, limits)
        except Rejected as exc:
            metrics.FINDINGS_REJECTED.labels(exc.reason).inc()
            return _error(exc.status, exc.reason, str(exc),
                          [FieldError(field=p.field, message=p.message) for p in exc.problems])
        record = encode(finding, event_id=finding.finding_id, source=f"/patrol/{finding.township_code}",
                        key=key, subject=finding.finding_id, time=received_at)
        try:
            partition, offset = await publisher.publish(record)
        except BrokerUnavailable as exc:
            metrics.PUBLISH_FAILURES.inc()
            return _error(503, "broker_unavailable", f"not accepted, retry later: {exc}",
                          headers={"Retry-After": RETRY_AFTER_SECONDS})
        metrics.FINDINGS_ACCEPTED.labels(finding.township_code, finding.category_code, finding.source.value).inc()
        accepted = FindingAccepted(finding_id=finding.finding_id, client_report_id=finding.client_report_id,
                                   partition=partition, offset=offset)
        return JSONResponse(accepted.model_dump(), status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
