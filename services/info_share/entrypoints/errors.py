"""How the info-share API refuses: every refusal answered and audited the same way, one entry, never the token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.common.audit import AuditEntry, Who
from services.common.principal import Principal
from services.common.privacy import mask_text
from services.common.rate_limit import TooManyAuthFailures
from services.info_share.auth import AuthError
from services.info_share.entrypoints.deps import ReadsExhausted, api_state, client_address
from services.info_share.service import Refused


def refuse(request: Request, status: int, error: str, detail: str, headers: dict[str, str]) -> JSONResponse:
    """Every refusal is answered and audited the same way: one entry, never the token."""
    request_id = uuid.uuid4().hex
    known: Principal | None = getattr(request.state, "caller", None)
    who = (Who(known.subject, known.role, "jwt", client_address(request)) if known and known.subject
           else Who(client_address=client_address(request)))
    api_state(request).audit_log.record(AuditEntry(
        at=datetime.now(UTC), request_id=request_id, api="info_share", action="read", who=who, outcome=error,
        status=status, reason=error, problems=(("", detail),),
        what={"method": request.method, "route": getattr(request.scope.get("route"), "path", "unmatched")}))
    return JSONResponse({"error": error, "detail": detail}, status_code=status,
                        headers={**headers, "X-Request-ID": request_id})


async def auth_failed(request: Request, exc: AuthError) -> JSONResponse:
    if exc.status == 401:
        return refuse(request, 401, "unauthenticated", exc.reason, {"WWW-Authenticate": "Bearer"})
    return refuse(request, exc.status, "forbidden", exc.reason, {})


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    if request.url.path.startswith("/open311/"):
        # Open311 answers bad input with 400 and a list of {code, description}, one per problem.
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()]
        audited = refuse(request, 400, "invalid", "; ".join(problems), {})
        return JSONResponse([{"code": 400, "description": problem} for problem in problems], status_code=400,
                            headers={"X-Request-ID": audited.headers["X-Request-ID"]})
    # FastAPI's own answer, without the refused value echoed back (a filter or body may hold a phone number or
    # an id) and with the message masked as any error message is.
    detail = [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": mask_text(str(e.get("msg", "")))}
              for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def reads_exhausted(request: Request, exc: ReadsExhausted) -> JSONResponse:
    return refuse(request, 429, "rate_limited", exc.reason, {"Retry-After": str(exc.retry_after_seconds)})


async def locked_out(request: Request, exc: TooManyAuthFailures) -> JSONResponse:
    return refuse(request, 429, "rate_limited", str(exc), {"Retry-After": str(exc.retry_after_seconds)})


async def refused(request: Request, exc: Refused) -> JSONResponse:
    answer = refuse(request, exc.status, exc.error, exc.detail, {"Retry-After": "1"} if exc.status == 503 else {})
    if exc.state is not None:  # the state that made it a conflict, for the client to show
        answer = JSONResponse({"error": exc.error, "detail": exc.detail, "state": exc.state},
                              status_code=exc.status, headers={"X-Request-ID": answer.headers["X-Request-ID"]})
    return answer


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, auth_failed)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(ReadsExhausted, reads_exhausted)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyAuthFailures, locked_out)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, refused)  # type: ignore[arg-type]
