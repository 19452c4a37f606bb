"""Who is calling the info-share API: a bearer JWT (HS256 pinned; iss, aud, exp, sub required), or nobody.

Claims: ``sub``; ``role`` (see domain.audience); ``body_id`` for a county team, dispatched agency or county
coordination; ``townships`` (or ``township``) for township officers. The verification is shared with patrol
(services/common/jwt_auth.py); each service checks its own audience.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import jwt

from services.common.jwt_auth import ALGORITHM, AuthError, decode_token, identity_of
from services.common.principal import ANONYMOUS, Principal
from services.common.roles import Role
from services.info_share.settings import InfoShareApiSettings

__all__ = ["AuthError", "caller_from_token", "issue_token"]


def caller_from_token(token: str | None, settings: InfoShareApiSettings) -> Principal:
    """The caller a token names; no token at all is the anonymous public. A bad token is refused, never downgraded."""
    if token is None:
        return ANONYMOUS
    claims = decode_token(token, secret=settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer,
                          audience=settings.jwt_audience)
    who = identity_of(claims)
    return Principal(subject=who.subject, role=who.role or "public", township_codes=who.township_codes,
                     body_id=who.body_id)


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


MIN_KEY_CHARS = 16
# The role a work-order system acts in is its body's kind: it answers for that one body and no other.
ROLE_OF_BODY_KIND = {"team": Role.COUNTY_TEAM.value, "agency": Role.DISPATCHED_AGENCY.value,
                     "township": Role.TOWNSHIP_OFFICER.value}


def parse_work_order_keys(raw: str) -> dict[str, Principal]:
    """``key=system-name:body_id;…`` → key → the caller it authenticates (Open311 ``servicerequestupdates``).

    A key names one receiving body (a county team, a dispatched agency, or a township office for its delegated
    matters): the system holding it reports progress on that body's referrals only. Bad configuration fails at start.
    """
    callers: dict[str, Principal] = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        key, _, rest = entry.partition("=")
        name, _, body_id = rest.partition(":")
        key, name, body_id = key.strip(), name.strip(), body_id.strip()
        kind, _, own = body_id.partition(":")
        if not key or not name or kind not in ROLE_OF_BODY_KIND or not own:
            raise ValueError("LIANDONG_WORK_ORDER_API_KEYS entries look like key=system-name:team:210603:housing_urban "
                             "(the body is a team:, agency: or township: id)")
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(f"LIANDONG_WORK_ORDER_API_KEYS: every key needs at least {MIN_KEY_CHARS} characters")
        role = ROLE_OF_BODY_KIND[kind]
        callers[key] = (Principal(name, role, frozenset({own}), "api_key") if kind == "township"
                        else Principal(name, role, method="api_key", body_id=body_id))
    return callers


def caller_from_work_order_key(api_key: str, keys: dict[str, Principal]) -> Principal:
    # Compare against every key in constant time so timing does not reveal a prefix.
    found = None
    for candidate, caller in keys.items():
        if hmac.compare_digest(candidate.encode(), api_key.encode()):
            found = caller
    if found is None:
        raise AuthError(403, "invalid api_key")
    return found
