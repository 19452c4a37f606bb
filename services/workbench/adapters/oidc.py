"""The workbench as an OIDC client: the authorization-code flow with PKCE (RFC 7636) against a configured IdP.

The pre-session (state → PKCE verifier) is kept on the server for ten minutes; the browser holds only the state, in
a signed cookie, so a callback is accepted only in the browser that started the sign-in (no login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

PRE_SESSION_SECONDS = 600
MOST_PENDING = 10_000


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Signed:
    """What the token endpoint answered, read for the session: the token itself and who it speaks for."""
    token: str
    subject: str
    body_id: str
    expires_at: float


class OidcClient:
    def __init__(self, *, authorization_url: str, token_url: str, client_id: str, client_secret: str | None,
                 redirect_url: str, timeout_seconds: float) -> None:
        self._authorization_url, self._token_url = authorization_url, token_url
        self._client_id, self._client_secret, self._redirect_url = client_id, client_secret, redirect_url
        self._pending: dict[str, tuple[str, float]] = {}  # state -> (PKCE verifier, end)
        self._http = httpx.AsyncClient(timeout=timeout_seconds)

    def start(self, now: float | None = None) -> tuple[str, str]:
        """(state, the IdP URL to send the browser to)."""
        now = time.time() if now is None else now
        self._pending = {s: p for s, p in self._pending.items() if p[1] > now}  # forget abandoned sign-ins
        while len(self._pending) >= MOST_PENDING:  # anyone may start sign-ins: memory stays bounded
            del self._pending[next(iter(self._pending))]  # the oldest first (dicts keep insertion order)
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        self._pending[state] = (verifier, now + PRE_SESSION_SECONDS)
        query = urlencode({"response_type": "code", "client_id": self._client_id, "redirect_uri": self._redirect_url,
                           "scope": "openid", "state": state, "code_challenge": code_challenge(verifier),
                           "code_challenge_method": "S256"})
        return state, f"{self._authorization_url}?{query}"

    def take(self, state: str, now: float | None = None) -> str | None:
        """The verifier of a pending sign-in, once only; None if unknown or past its ten minutes."""
        pending = self._pending.pop(state, None)
        now = time.time() if now is None else now
        return pending[0] if pending and pending[1] > now else None

    async def exchange(self, code: str, verifier: str) -> tuple[int, dict[str, Any]]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect_url,
                "client_id": self._client_id, "code_verifier": verifier}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        try:
            answer = await self._http.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            return 503, {"error": f"IdP unreachable: {type(exc).__name__}"}
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return answer.status_code, body if isinstance(body, dict) else {}

    async def aclose(self) -> None:
        await self._http.aclose()


def signed_in(answer: dict[str, Any], now: float) -> Signed | None:
    """Who the access token speaks for; None when it names no body the workbench can show.

    The signature is not checked here: the token came straight from the token endpoint over the workbench's own
    connection, and the workbench only shows the body's name from it; info-share verifies it on every call.
    """
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    townships = claims.get("townships")
    body_id = claims.get("body_id") or (f"township:{townships[0]}" if isinstance(townships, list) and townships
                                        else None)
    if not isinstance(body_id, str):
        return None
    expires_in = answer.get("expires_in")
    expires_at = float(claims["exp"]) if isinstance(claims.get("exp"), int | float) else (
        now + float(expires_in) if isinstance(expires_in, int | float) else now + 3600)
    return Signed(token=token, subject=str(claims.get("sub") or body_id), body_id=body_id, expires_at=expires_at)
