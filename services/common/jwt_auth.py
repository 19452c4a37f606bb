"""Bearer tokens shared by the HTTP services: HS256 pinned; exp, iss, aud and sub required."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import jwt

from services.common.roles import EVERY_TOWNSHIP

T = TypeVar("T")

ALGORITHM = "HS256"  # pinned: a token naming another algorithm (or "none") is refused


class AuthError(Exception):
    """A refused caller: ``status`` is 401 (who are you?) or 403 (not allowed), ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; AuthError(401) for any other scheme or none."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "Authorization must be 'Bearer <token>'")
    return token.strip()


def decode_token(token: str, *, secret: str, issuer: str, audience: str) -> dict[str, Any]:
    """The verified claims of ``token``, or AuthError(401) naming what is wrong with it."""
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                                            options={"require": ["exp", "iss", "aud", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "token expired") from None
    except jwt.InvalidAudienceError:
        raise AuthError(401, "token audience is not this service") from None
    except jwt.InvalidIssuerError:
        raise AuthError(401, "token issuer is not trusted") from None
    except jwt.PyJWTError as exc:
        raise AuthError(401, f"invalid token: {exc}") from None
    problem = claims_problem(claims)
    if problem is not None:
        raise AuthError(401, f"invalid token: {problem}")
    return claims


# Claim → the type it must have. PyJWT turns a numeric string into a time ("exp": "9999999999" passes), and the
# services would read a list where a string belongs: a token of the wrong shape is refused, whoever signed it.
_CLAIM_TYPES: dict[str, tuple[type, ...]] = {"exp": (int, float), "nbf": (int, float), "iat": (int, float),
                                             "sub": (str,), "role": (str,), "body_id": (str,), "township": (str,)}


@dataclass(frozen=True)
class Identity:
    """Who a verified token names, read once and the same way by every service (roles: services.common.roles)."""

    subject: str
    role: str  # "" when the token names none
    township_codes: frozenset[str]  # the township offices the holder serves (``townships``, or one ``township``)
    body_id: str | None  # the receiving body the holder speaks for, e.g. team:210603:natural_resources


def identity_of(claims: dict[str, Any]) -> Identity:
    """The identity in claims ``decode_token`` returned (their shape is checked there)."""
    townships = claims.get("townships") or ([claims["township"]] if claims.get("township") else [])
    return Identity(str(claims["sub"]), str(claims.get("role") or ""), frozenset(townships),
                    claims.get("body_id") or None)


def claims_problem(claims: dict[str, Any]) -> str | None:
    """What is wrong with the shape of verified ``claims``, or None."""
    for name, types in _CLAIM_TYPES.items():
        value = claims.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return f"claim {name} must be {' or '.join(t.__name__ for t in types)}"
    if not str(claims.get("sub", "")).strip():
        return "claim sub must not be empty"
    townships = claims.get("townships")
    if townships is not None and not (isinstance(townships, list) and all(isinstance(t, str) for t in townships)):
        return "claim townships must be a list of township codes"
    # "Every township" is a scope configured for a system's API key; no person's token carries it.
    if EVERY_TOWNSHIP in (townships or []) or claims.get("township") == EVERY_TOWNSHIP:
        return "claim townships may not be '*' (every township is for API keys only)"
    return None


class VerifiedTokens(Generic[T]):
    """What verified tokens stood for, so a token sent with every request is verified in full only once.

    Only a token that passed ``decode_token`` is kept, with what the caller derived from its claims. Signature,
    algorithm, issuer, audience and required claims do not change with time, so they hold for the same token string;
    its time claims do, and are checked again on every use with PyJWT's own rules (``exp`` > now, ``nbf`` and ``iat``
    <= now, no leeway). A token past any of them is a miss: the caller verifies it in full again, so the refusal and
    its message are PyJWT's. Tokens with a bad signature are never kept, so filling the cache takes valid tokens.
    """

    def __init__(self, max_tokens: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._max_tokens = max_tokens
        self._clock = clock
        self._entries: dict[str, tuple[T, int, int, int]] = {}  # token -> (value, exp, nbf, iat)

    def get(self, token: str) -> T | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        value, exp, nbf, iat = entry
        now = self._clock()
        if exp <= now or nbf > now or iat > now:
            del self._entries[token]
            return None
        return value

    def put(self, token: str, claims: dict[str, Any], value: T) -> None:
        """Remember ``value`` for a token whose ``claims`` ``decode_token`` has just returned."""
        try:
            exp = int(claims["exp"])
            nbf = int(claims.get("nbf", _NEVER))
            iat = int(claims.get("iat", _NEVER))
        except (KeyError, TypeError, ValueError, OverflowError):
            return  # not the shape decode_token lets through: verify it in full each time
        if len(self._entries) >= self._max_tokens:
            now = self._clock()
            self._entries = {t: e for t, e in self._entries.items() if e[1] > now}
            while len(self._entries) >= self._max_tokens:  # still full of live tokens: forget the oldest
                del self._entries[next(iter(self._entries))]
        self._entries[token] = (value, exp, nbf, iat)


_NEVER = -(2**62)  # an absent nbf / iat: in the past, whatever the clock says
