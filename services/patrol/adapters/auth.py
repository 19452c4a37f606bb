"""Who is calling: bearer JWTs for officers (HS256 pinned; iss, aud, exp checked) and API keys for systems."""

from __future__ import annotations

import hmac
import time
from typing import Any

import jwt

from services.common.jwt_auth import ALGORITHM, AuthError, VerifiedTokens, decode_token, identity_of
from services.patrol.domain.access import Principal
from services.patrol.settings import PatrolSettings

MIN_KEY_CHARS = 16

__all__ = ["AuthError", "Authenticator", "Principal", "issue_token", "parse_api_keys"]


def principal_from_token(token: str, settings: PatrolSettings) -> Principal:
    return _principal_of(token, settings)[0]


def _principal_of(token: str, settings: PatrolSettings) -> tuple[Principal, dict[str, Any]]:
    claims = decode_token(token, secret=settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer,
                          audience=settings.jwt_audience)
    who = identity_of(claims)
    return Principal(who.subject, who.role, who.township_codes, "jwt"), claims


def parse_api_keys(raw: str) -> dict[str, Principal]:
    """``key=system-name:township,township;...`` → key → principal (role "system"); ``*`` = every township."""
    keys: dict[str, Principal] = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        key, _, rest = entry.partition("=")
        name, _, townships = rest.partition(":")
        if not key.strip() or not name.strip():
            raise ValueError("LIANDONG_API_KEYS entries look like key=system-name:township,township")
        if len(key.strip()) < MIN_KEY_CHARS:
            raise ValueError(f"LIANDONG_API_KEYS: every key needs at least {MIN_KEY_CHARS} characters")
        codes = frozenset(c.strip() for c in townships.split(",") if c.strip())
        keys[key.strip()] = Principal(name.strip(), "system", codes, "api_key")
    return keys


class Authenticator:
    """Checks credentials against the settings; keys are parsed once, at start, so bad configuration fails early."""

    def __init__(self, settings: PatrolSettings) -> None:
        self._settings = settings
        self._keys = parse_api_keys(settings.api_keys.get_secret_value())
        # An app sends the same token with every request; verifying it (~80-120 µs) was a tenth of a request's CPU.
        self._verified: VerifiedTokens[Principal] = VerifiedTokens()

    def from_token(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            return known
        principal, claims = _principal_of(token, self._settings)
        self._verified.put(token, claims, principal)
        return principal

    def from_api_key(self, api_key: str) -> Principal:
        # Compare against every key in constant time so timing does not reveal a prefix.
        found = None
        for candidate, principal in self._keys.items():
            if hmac.compare_digest(candidate.encode(), api_key.encode()):
                found = principal
        if found is None:
            raise AuthError(403, "invalid api_key")
        return found


def issue_token(settings: PatrolSettings, subject: str, township_codes: list[str], role: str = "patrol_officer",
                lifetime_seconds: int = 8 * 3600, now: float | None = None) -> str:
    """Mint a token as the identity provider would (demo and tests)."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "role": role, "townships": township_codes, "iss": settings.jwt_issuer,
              "aud": settings.jwt_audience, "iat": issued, "exp": issued + lifetime_seconds}
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
