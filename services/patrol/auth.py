"""Who is calling: bearer JWTs for officers (HS256 pinned; iss, aud, exp checked) and API keys for systems."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt

from services.patrol.settings import PatrolSettings

ALGORITHM = "HS256"  # pinned: a token naming another algorithm (or "none") is refused
FILING_ROLES = frozenset({"patrol_officer", "hotline_operator", "system"})


class AuthError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    subject: str  # officer id or system name
    role: str
    township_codes: frozenset[str]  # where this principal may file

    def may_file_for(self, township_code: str) -> bool:
        return self.role in FILING_ROLES and township_code in self.township_codes


def principal_from_token(token: str, settings: PatrolSettings) -> Principal:
    try:
        claims = jwt.decode(
            token, settings.jwt_secret.get_secret_value(), algorithms=[ALGORITHM],
            audience=settings.jwt_audience, issuer=settings.jwt_issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "token expired") from None
    except jwt.InvalidAudienceError:
        raise AuthError(401, "token audience is not this service") from None
    except jwt.InvalidIssuerError:
        raise AuthError(401, "token issuer is not trusted") from None
    except jwt.PyJWTError as exc:
        raise AuthError(401, f"invalid token: {exc}") from None
    townships = claims.get("townships") or ([claims["township"]] if claims.get("township") else [])
    return Principal(str(claims["sub"]), str(claims.get("role", "")), frozenset(map(str, townships)))


def parse_api_keys(raw: str) -> dict[str, Principal]:
    """``key=system-name:township,township;...`` → key → principal (role "system")."""
    keys: dict[str, Principal] = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        key, _, rest = entry.partition("=")
        name, _, townships = rest.partition(":")
        if not key or not name:
            raise ValueError("LIANDONG_API_KEYS entries look like key=system-name:township,township")
        keys[key.strip()] = Principal(name.strip(), "system", frozenset(filter(None, townships.split(","))))
    return keys


def principal_from_api_key(api_key: str, keys: dict[str, Principal]) -> Principal:
    # Compare against every key in constant time so timing does not reveal a prefix.
    found = None
    for candidate, principal in keys.items():
        if hmac.compare_digest(candidate.encode(), api_key.encode()):
            found = principal
    if found is None:
        raise AuthError(403, "invalid api_key")
    return found


def issue_token(settings: PatrolSettings, subject: str, township_codes: list[str], role: str = "patrol_officer",
                lifetime_seconds: int = 8 * 3600, now: float | None = None) -> str:
    """Mint a token as the identity provider would (demo and tests)."""
    import time

    issued = int(now if now is not None else time.time())
    claims = {"sub": subject, "role": role, "townships": township_codes, "iss": settings.jwt_issuer,
              "aud": settings.jwt_audience, "iat": issued, "exp": issued + lifetime_seconds}
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
