"""Error answers: ErrorResponse for the JSON API, the spec's error documents under /open311/; refusals audited."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from schemas.api import ErrorResponse, FieldError
from services.common.privacy import mask_text
from services.patrol.adapters.auth import AuthError
from services.patrol.domain.access import Principal
from services.patrol.domain.audit import describe_submission
from services.patrol.domain.intake import Problem
from services.patrol.domain.register import RegisterUnavailable
from services.patrol.entrypoints import open311_format
from services.patrol.entrypoints.deps import RateLimited, best_effort_principal, patrol_of
from services.patrol.service import Refused

OPEN311_PREFIX = "/open311/"
# Write routes and the action name their audit entries carry.
WRITE_ACTIONS = {"/v1/findings": "submit_finding", "/v1/findings/batch": "submit_batch",
                 "/open311/v2/requests.json": "open311_post_request",
                 "/open311/v2/requests.xml": "open311_post_request"}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text, **({"headers": RETRY_AFTER} if status in (429, 503) else {})}
    for status, text in {
        400: "Malformed JSON", 401: "No valid bearer token or API key", 403: "Not allowed for this township or role",
        404: "Not found, or not visible to this caller",
        409: "Idempotency key already used for a different report", 413: "Body or batch too large",
        415: "Wrong Content-Type", 422: "Field-level validation errors", 429: "Rate limit exceeded (Retry-After)",
        503: "Broker or store unavailable: nothing accepted, retry later (Retry-After)",
    }.items()
}


def json_error(status: int, error: str, detail: str, problems: list[Problem] | tuple[Problem, ...] = (),
               headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=error, detail=detail,
                         field_errors=[FieldError(field=p.field, message=p.message) for p in problems])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def refusal_headers(refused: Refused) -> dict[str, str] | None:
    headers = {"Retry-After": str(refused.retry_after_seconds)} if refused.retry_after_seconds else {}
    if refused.status == 401:
        headers["WWW-Authenticate"] = "Bearer"  # RFC 6750: every 401, the JSON API's and Open311's alike
    return headers or None


def refused_json(refused: Refused) -> JSONResponse:
    return json_error(refused.status, refused.reason, refused.detail, refused.problems, refusal_headers(refused))


def open311_status(status: int) -> int:
    # The spec answers bad input with 400; field-level 422s of the JSON API map onto it.
    return 400 if status == 422 else status


def refused_open311(fmt: str, refused: Refused) -> Response:
    headers = refusal_headers(refused)
    descriptions = [f"{p.field}: {p.message}" if p.field else p.message for p in refused.problems] or [refused.reason]
    return open311_format.errors(fmt, open311_status(refused.status), descriptions, headers)


def render(request_path: str, refused: Refused) -> Response:
    if request_path.startswith(OPEN311_PREFIX):
        return refused_open311(open311_format.format_of_path(request_path), refused)
    return refused_json(refused)


def audit_refusal(request: Request, refused: Refused, principal: Principal | None = None,
                  what: dict[str, Any] | None = None, *, reads_too: bool = False) -> None:
    """Every refused write is audited and counted, whichever layer refused it; with ``reads_too`` (refused
    credentials, the brute-force guard) a refused read is audited as well, action "read", and not counted."""
    action = WRITE_ACTIONS.get(request.url.path) if request.method == "POST" else None
    if action is None and not reads_too:
        return
    patrol = patrol_of(request)
    who = principal if principal is not None else best_effort_principal(request)
    api = "open311" if request.url.path.startswith(OPEN311_PREFIX) else "json"
    if action is None:  # the route template only: a query string may hold an api_key
        route = getattr(request.scope.get("route"), "path", "unmatched")
        patrol.service.record(patrol.context(request, api, "read", who), refused,
                              {"method": request.method, "route": route}, count=False)
        return
    patrol.service.record(patrol.context(request, api, action, who), refused, what or {})


def _validation_refusal(exc: RequestValidationError, open311: bool) -> Refused:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        where = next(e for e in errors if e.get("type") == "json_invalid")
        position = where["loc"][-1] if where.get("loc") else "?"
        message = f"not valid JSON at position {position}: {where.get('ctx', {}).get('error', 'decode error')}"
        return Refused(400, "malformed_json", (Problem("body", message),))
    # A validator's message may quote the value it refused: shown as in an audit entry.
    problems = tuple(Problem(_field(e["loc"]), mask_text(e["msg"])) for e in errors)
    return Refused(400 if open311 else 422, "invalid_request", problems)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, exc: RequestValidationError) -> Response:
        refused = _validation_refusal(exc, request.url.path.startswith(OPEN311_PREFIX))
        audit_refusal(request, refused, what=describe_submission(exc.body))
        return render(request.url.path, refused)

    @app.exception_handler(AuthError)
    async def auth_failed(request: Request, exc: AuthError) -> Response:
        refused = Refused(exc.status, "unauthenticated" if exc.status == 401 else "forbidden",
                          (Problem("", exc.reason),))
        audit_refusal(request, refused, principal=None, reads_too=True)
        return render(request.url.path, refused)

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        refused = Refused(429, "rate_limited", (Problem("", str(exc)),), exc.retry_after_seconds)
        audit_refusal(request, refused, principal=exc.principal, reads_too=exc.failed_authentications)
        return render(request.url.path, refused)

    @app.exception_handler(RegisterUnavailable)
    async def register_unavailable(request: Request, exc: RegisterUnavailable) -> Response:
        patrol = patrol_of(request)
        return render(request.url.path, Refused(503, "register_unavailable", (Problem("", str(exc)),),
                                                patrol.settings.retry_after_seconds))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = render(request.url.path, Refused(exc.status_code, reason, (Problem("", str(exc.detail)),)))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
