"""A token the identity provider signed is still refused when its claims have the wrong shape or scope."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from services.common.jwt_auth import AuthError, decode_token

SECRET = "claims-test-secret-0123456789-abcdef"


def signed(**claims: Any) -> str:
    base = {"sub": "officer-1", "iss": "idp", "aud": "svc", "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


def decode(token: str) -> dict[str, Any]:
    return decode_token(token, secret=SECRET, issuer="idp", audience="svc")


def test_a_well_formed_token_passes() -> None:
    assert decode(signed(role="patrol_officer", townships=["210603008"]))["townships"] == ["210603008"]


@pytest.mark.parametrize(("claims", "named"), [
    ({"exp": str(int(time.time()) + 600)}, "exp"),  # PyJWT alone takes a numeric string for a time
    ({"iat": True}, "iat"),
    ({"role": ["supervisor"]}, "role"),
    ({"body_id": 7}, "body_id"),
    ({"townships": "210603008"}, "townships"),
    ({"townships": [210603008]}, "townships"),
    ({"townships": ["210603008", "*"]}, "'*'"),  # every township: API keys only
    ({"township": "*"}, "'*'"),
    ({"sub": " "}, "sub"),
])
def test_claims_of_the_wrong_type_or_scope_are_refused(claims: dict[str, Any], named: str) -> None:
    with pytest.raises(AuthError) as refused:
        decode(signed(**claims))
    assert refused.value.status == 401 and named in refused.value.reason
