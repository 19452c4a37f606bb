"""What the routers share: the wired service and adapters, credential resolution, per-caller rate limiting."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.security import APIKeyHeader, HTTPBearer

from services.common.jwt_auth import bearer_token
from services.common.rate_limit import AuthFailureLimit, Buckets, TooManyAuthFailures
from services.patrol.adapters.auth import Authenticator, AuthError
from services.patrol.adapters.publisher import FindingPublisher
from services.patrol.domain.access import Principal
from services.patrol.domain.idempotency import KeyRecord, StoreUnavailable
from services.patrol.domain.register import CaseLookup, Registered, RegisterUnavailable
from services.patrol.ports import IdempotencyStore
from services.patrol.service import Context, IntakeService
from services.patrol.settings import PatrolSettings

bearer = HTTPBearer(auto_error=False, scheme_name="officerToken",
                    description="JWT from the identity provider (HS256; iss, aud, exp checked): officers, systems")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="systemApiKey",
                              description="Per-system or per-device key from LIANDONG_API_KEYS")


class RateLimited(Exception):
    """429: the caller's rate limit, or (``failed_authentications``) its address's brute-force guard."""

    def __init__(self, retry_after_seconds: int, principal: Principal | None, *,
                 failed_authentications: bool = False) -> None:
        super().__init__(f"too many failed authentications from this address; retry in {retry_after_seconds} s"
                         if failed_authentications else f"rate limit exceeded; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds
        self.principal = principal
        self.failed_authentications = failed_authentications


@dataclass
class Patrol:
    """The wired application: one instance per app, built in ``api.create_app``."""

    settings: PatrolSettings
    service: IntakeService
    authenticator: Authenticator
    limiter: Buckets
    auth_failures: AuthFailureLimit
    lookup: CaseLookup
    store: IdempotencyStore
    publisher: FindingPublisher
    adjoining: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def principal(self, authorization: str | None, api_key: str | None) -> Principal | None:
        """The caller named by a bearer token or an API key; None when neither is given; AuthError when invalid."""
        if authorization:
            return self.authenticator.from_token(bearer_token(authorization))
        if api_key:
            return self.authenticator.from_api_key(api_key)
        return None

    def authenticate(self, authorization: str | None, api_key: str | None, client_address: str) -> Principal | None:
        """As ``principal``, for a request's own credential: behind the per-address brute-force guard, so each
        failure counts and an address out of failures gets 429 (RateLimited) before its credential is checked."""
        if not authorization and not api_key:
            return None
        try:
            return self.auth_failures.authenticate(client_address, time.monotonic(),
                                                   lambda: self.principal(authorization, api_key))
        except TooManyAuthFailures as exc:
            raise RateLimited(exc.retry_after_seconds, None, failed_authentications=True) from None

    def throttle(self, principal: Principal | None, client_address: str) -> None:
        decision = self.limiter.take(_throttle_key(principal, client_address), time.monotonic())
        if not decision.allowed:
            raise RateLimited(decision.retry_after_seconds, principal)

    async def find(self, finding_id: str) -> tuple[Registered | None, KeyRecord | None]:
        """The registered report and the idempotency record (which also knows requests not registered yet)."""
        unavailable: RegisterUnavailable | None = None
        try:
            registered = await asyncio.to_thread(self.lookup.report, finding_id)
        except RegisterUnavailable as exc:
            registered, unavailable = None, exc
        record = None
        if self.publisher.known_scope:
            with contextlib.suppress(StoreUnavailable):  # the register may still answer
                record = await self.store.find(self.publisher.known_scope, finding_id)
        if registered is None and record is None and unavailable is not None:
            raise unavailable
        return registered, record

    def context(self, request: Request, api: str, action: str, principal: Principal | None) -> Context:
        return Context(request_id=request_id(request), api=api, action=action, principal=principal,
                       client_address=client_address(request))


def _throttle_key(principal: Principal | None, client_address: str) -> str:
    return f"principal:{principal.subject}" if principal else f"address:{client_address}"


def patrol_of(request: Request) -> Patrol:
    patrol: Patrol = request.app.state.patrol
    return patrol


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def best_effort_principal(request: Request) -> Principal | None:
    """For audit entries of refusals made before authentication ran: never raises."""
    try:
        return patrol_of(request).principal(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except AuthError:
        return None
