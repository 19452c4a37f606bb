"""The demo identity provider: mints the token a real IdP would issue, with the claims info-share accepts.

Only for `make run` and the tests (LIANDONG_WORKBENCH_DEMO_SIGN_IN=true): it holds the shared token key, which a
production workbench never does — there the token comes from the IdP's code flow (docs/workbench.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from services.common.jwt_auth import ALGORITHM
from services.workbench.domain.labels import ROLES, body_kind


def demo_token(body_id: str, *, secret: str, issuer: str, audience: str, lifetime_seconds: int,
               now: float | None = None) -> tuple[str, str]:
    """(subject, token) of a demo person acting for ``body_id``; ValueError for a kind of body nobody signs in as."""
    kind, _, own = body_id.partition(":")
    if kind not in ROLES or not own:
        raise ValueError(f"cannot sign in as {body_id!r}: a team:, agency:, township: or coordination: body")
    issued = int(now if now is not None else time.time())
    subject = f"demo-{body_id}"
    claims: dict[str, Any] = {"sub": subject, "role": ROLES[body_kind(body_id)], "iss": issuer, "aud": audience,
                              "iat": issued, "exp": issued + lifetime_seconds}
    if kind == "township":
        claims["townships"] = [own]  # a township officer acts for the township office, named by its code
    else:
        claims["body_id"] = body_id
    return subject, jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class _Grant:
    body_id: str
    challenge: str
    redirect_uri: str
    expires_at: float


class DemoIdp:
    """A local stand-in for the identity provider's two endpoints, so that `make run` and the browser test go
    through the same authorization-code flow (with PKCE) a real IdP would; it signs with the shared demo key."""

    CODE_SECONDS = 60
    MOST_CODES = 10_000

    def __init__(self, *, client_id: str, client_secret: str, redirect_url: str, secret: str, issuer: str,
                 audience: str, lifetime_seconds: int) -> None:
        self.client_id, self.redirect_url = client_id, redirect_url
        self._client_secret, self._secret = client_secret, secret
        self._issuer, self._audience, self._lifetime = issuer, audience, lifetime_seconds
        self._codes: dict[str, _Grant] = {}

    def request_ok(self, params: dict[str, str]) -> str | None:
        """What is wrong with an authorization request, or None; a wrong redirect_uri is never redirected to."""
        if params.get("response_type") != "code":
            return "response_type 必须为 code"
        if params.get("client_id") != self.client_id or params.get("redirect_uri") != self.redirect_url:
            return "未登记的客户端或回调地址"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "需要 PKCE（S256）"
        if not params.get("state"):
            return "缺少 state"
        return None

    def grant(self, body_id: str, challenge: str, now: float | None = None) -> str:
        kind, _, own = body_id.partition(":")
        if kind not in ROLES or not own:
            raise ValueError(f"cannot sign in as {body_id!r}: a team:, agency:, township: or coordination: body")
        now = time.time() if now is None else now
        self._codes = {c: g for c, g in self._codes.items() if g.expires_at > now}
        while len(self._codes) >= self.MOST_CODES:  # bounded, the oldest dropped first
            del self._codes[next(iter(self._codes))]
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(body_id, challenge, self.redirect_url, now + self.CODE_SECONDS)
        return code

    def token(self, form: dict[str, str], now: float | None = None) -> tuple[int, dict[str, Any]]:
        """The token endpoint: a code once, for this client, with the verifier of its challenge (RFC 6749 §5.2)."""
        now = time.time() if now is None else now
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_id") != self.client_id or not hmac.compare_digest(
                form.get("client_secret", ""), self._client_secret):
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        if (grant is None or grant.expires_at <= now or form.get("redirect_uri") != grant.redirect_uri
                or not verifier or not hmac.compare_digest(_challenge(verifier), grant.challenge)):
            return 400, {"error": "invalid_grant"}
        _subject, access = demo_token(grant.body_id, secret=self._secret, issuer=self._issuer,
                                      audience=self._audience, lifetime_seconds=self._lifetime, now=now)
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": self._lifetime}


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
