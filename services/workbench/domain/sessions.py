"""A signed-in person's session: who they act as, their bearer token, their CSRF token, when it ends.

The cookie carries only a random session id and its HMAC; the token stays on the server, so a stolen page or a
script never sees it. A cookie whose signature does not hold, or a session past its end, is no session at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE_NAME = "liandong_wb"


@dataclass(frozen=True)
class Session:
    session_id: str
    subject: str
    body_id: str  # the body the person acts for: team:…, agency:…, township:…, coordination:…
    token: str
    csrf_token: str
    expires_at: float  # epoch seconds

    def alive(self, now: float) -> bool:
        return now < self.expires_at


def new_session(*, subject: str, body_id: str, token: str, now: float, lifetime_seconds: int) -> Session:
    return Session(session_id=secrets.token_urlsafe(32), subject=subject, body_id=body_id, token=token,
                   csrf_token=secrets.token_urlsafe(32), expires_at=now + lifetime_seconds)


def cookie_value(session_id: str, key: bytes) -> str:
    return f"{session_id}.{_signature(session_id, key)}"


def session_id_from_cookie(value: str | None, key: bytes) -> str | None:
    """The session id a cookie names, if its signature holds (compared in constant time)."""
    if not value or "." not in value:
        return None
    session_id, _, signature = value.rpartition(".")
    return session_id if hmac.compare_digest(signature, _signature(session_id, key)) else None


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf_token.encode(), (submitted or "").encode())


def _signature(session_id: str, key: bytes) -> str:
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()
