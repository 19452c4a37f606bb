"""What the HTTP routes depend on: the app's parts (``request.app.state.info_share``), the caller, a session, filters.

``wiring.create_app`` builds an ``ApiState`` from the settings and puts it on ``app.state``; the routers reach it only
through these FastAPI dependencies.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency signatures.

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from schemas.bounds import MAX_SEQUENCE, RANGE_TEXT, Instant
from services.common.audit import AuditLog
from services.common.jwt_auth import bearer_token
from services.common.principal import ANONYMOUS, Principal
from services.common.rate_limit import AuthFailureLimit, TokenBuckets
from services.info_share.adapters import queries
from services.info_share.auth import AuthError, caller_from_token
from services.info_share.service import ActionDesk
from services.info_share.settings import InfoShareApiSettings
from services.reference.loader import ReferenceData

bearer = HTTPBearer(auto_error=False)
SSE_RETRY_MILLISECONDS = 3000


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


@dataclass(frozen=True)
class ApiState:
    """The parts of one API process, built once by ``wiring.create_app``."""

    settings: InfoShareApiSettings
    audit_log: AuditLog
    auth_failures: AuthFailureLimit
    reads: TokenBuckets
    streams: StreamSlots
    sessions: sessionmaker[Session]
    reference: ReferenceData
    desk: ActionDesk
    work_order_keys: dict[str, Principal]


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.info_share
    return state


State = Annotated[ApiState, Depends(api_state)]


def session(state: State) -> Iterator[Session]:
    with state.sessions() as s:
        yield s


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def reader_key(request: Request, who: Principal) -> str:
    return f"sub:{who.subject}" if who.subject else f"addr:{client_address(request)}"


def throttled(request: Request, state: ApiState, who: Principal) -> Principal:
    """Every read counts against its caller's budget: the token's subject, else the client address."""
    decision = state.reads.take(reader_key(request, who), time.monotonic())
    if not decision.allowed:
        raise ReadsExhausted(decision.retry_after_seconds, "over the read rate limit")
    return who


def caller(request: Request, state: State,
           _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """No Authorization header: the public. Any other: a valid bearer token, checked behind the per-address
    brute-force guard (every failure counts; an address out of failures gets 429 before its token is read)."""
    authorization = request.headers.get("authorization")
    if not authorization:
        return throttled(request, state, ANONYMOUS)
    who = state.auth_failures.authenticate(client_address(request), time.monotonic(),
                                           lambda: caller_from_token(bearer_token(authorization), state.settings))
    request.state.caller = who  # named in the audit entry if a later check refuses it (403)
    return throttled(request, state, who)


def official(who: Annotated[Principal, Depends(caller)]) -> Principal:
    if who.role == "public" and who.is_anonymous:
        raise AuthError(401, "a bearer token of an enforcement body is required")
    if not who.is_official:
        raise AuthError(403, f"role {who.role!r} sees the public summary only")
    return who


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


DbSession = Annotated[Session, Depends(session)]
AnyCaller = Annotated[Principal, Depends(caller)]
Official = Annotated[Principal, Depends(official)]
FeedFilters = Annotated[queries.Filters, Depends(filters)]


def stream_room(request: Request, state: State, who: AnyCaller) -> None:
    """Checked before the stream's answer starts (a refusal after it would be a broken 200)."""
    if state.streams.count(reader_key(request, who)) >= state.settings.streams_per_caller:
        raise ReadsExhausted(SSE_RETRY_MILLISECONDS // 1000,
                             f"at most {state.settings.streams_per_caller} live streams open per caller")


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
