"""The demo identity provider: mints the token a real IdP would issue, with the claims info-share accepts.

Only for `make run` and the tests (LIANDONG_WORKBENCH_DEMO_SIGN_IN=true): it holds the shared token key, which a
production workbench never does — there the token comes from the IdP's code flow (docs/workbench.md).
"""

from __future__ import annotations

import time
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
