"""Who is calling the info-share API: a bearer JWT (HS256 pinned; iss, aud, exp, sub required), or nobody.

Claims: ``sub``; ``role`` (see domain.audience); ``body_id`` for a county team, dispatched agency or county
coordination; ``townships`` (or ``township``) for township officers. The verification is shared with patrol
(services/common/jwt_auth.py); each service checks its own audience.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from services.common.jwt_auth import ALGORITHM, AuthError, decode_token, identity_of
from services.info_share.domain.audience import ANONYMOUS, Caller
from services.info_share.settings import InfoShareApiSettings

__all__ = ["AuthError", "caller_from_token", "issue_token"]


def caller_from_token(token: str | None, settings: InfoShareApiSettings) -> Caller:
    """The caller a token names; no token at all is the anonymous public. A bad token is refused, never downgraded."""
    if token is None:
        return ANONYMOUS
    claims = decode_token(token, secret=settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer,
                          audience=settings.jwt_audience)
    who = identity_of(claims)
    return Caller(subject=who.subject, role=who.role or "public", body_id=who.body_id,
                  township_codes=who.township_codes)


def issue_token(settings: InfoShareApiSettings, subject: str, *, role: str, body_id: str | None = None,
                township_codes: list[str] | None = None, lifetime_seconds: int = 8 * 3600,
                now: float | None = None) -> str:
    """Mint a token as the identity provider would (demo and tests)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role, "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                              "iat": issued, "exp": issued + lifetime_seconds}
    if body_id:
        claims["body_id"] = body_id
    if township_codes:
        claims["townships"] = township_codes
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
