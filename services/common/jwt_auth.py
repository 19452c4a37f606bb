"""Bearer tokens shared by the HTTP services: HS256 pinned; exp, iss, aud and sub required."""

from __future__ import annotations

from typing import Any

import jwt

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
    return claims
