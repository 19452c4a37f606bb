"""Who sees a case in full, masked, or as the public summary; and what a token says about its bearer."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import SecretStr

from services.info_share.auth import AuthError, caller_from_token, issue_token
from services.info_share.domain.audience import ANONYMOUS, Audience, Principal, audience_for
from services.info_share.settings import InfoShareApiSettings

PARTIES = {"township:210603008", "team:210603:natural_resources", "team:210603:ecology_environment"}
SETTINGS = InfoShareApiSettings(jwt_secret=SecretStr("unit-test-secret-0123456789-abcdefghij"))


@pytest.mark.parametrize(("caller", "audience"), [
    (Principal("o1", "patrol_officer", township_codes=frozenset({"210603008"})), Audience.FULL),
    (Principal("o2", "township_officer", township_codes=frozenset({"210603003", "210603008"})), Audience.FULL),
    (Principal("t1", "county_team", body_id="team:210603:natural_resources"), Audience.FULL),
    (Principal("o3", "patrol_officer", township_codes=frozenset({"210603003"})), Audience.OFFICIAL),
    (Principal("t2", "county_team", body_id="team:210603:water"), Audience.OFFICIAL),
    (Principal("a1", "dispatched_agency", body_id="agency:210603008:police_station"), Audience.OFFICIAL),
    (Principal("s1", "supervisor"), Audience.OFFICIAL),
    (Principal("p1", "public"), Audience.PUBLIC),
    (Principal("x1", "journalist", body_id="team:210603:natural_resources"), Audience.PUBLIC),  # unknown role
    (ANONYMOUS, Audience.PUBLIC),
])
def test_audience_of_a_case(caller: Principal, audience: Audience) -> None:
    assert audience_for(caller, PARTIES) is audience


def test_a_body_id_claimed_by_a_township_role_does_not_widen_to_other_townships() -> None:
    caller = Principal("o1", "patrol_officer", body_id="township:210603002", township_codes=frozenset({"210603003"}))
    assert caller.body_ids == {"township:210603002", "township:210603003"}


def test_county_coordination_scope() -> None:
    assert Principal("c", "county_coordination", body_id="coordination:210603").county_scope == "210603"
    assert Principal("t", "county_team", body_id="team:210603:water").county_scope is None


def test_token_round_trip_and_anonymous() -> None:
    token = issue_token(SETTINGS, "officer-1", role="patrol_officer", township_codes=["210603008"])
    caller = caller_from_token(token, SETTINGS)
    assert caller == Principal("officer-1", "patrol_officer", frozenset({"210603008"}), "jwt", body_id=None)
    assert caller_from_token(None, SETTINGS) is ANONYMOUS
    team = caller_from_token(issue_token(SETTINGS, "t", role="county_team", body_id="team:210603:water"), SETTINGS)
    assert team.body_ids == {"team:210603:water"}


@pytest.mark.parametrize("claims_change", [
    {"aud": "liandong-patrol"}, {"iss": "someone-else"}, {"exp": int(time.time()) - 10},
])
def test_tokens_for_another_audience_issuer_or_expired_are_refused(claims_change: dict[str, object]) -> None:
    claims = {"sub": "x", "role": "county_team", "iss": SETTINGS.jwt_issuer, "aud": SETTINGS.jwt_audience,
              "exp": int(time.time()) + 60, **claims_change}
    token = jwt.encode(claims, SETTINGS.jwt_secret.get_secret_value(), algorithm="HS256")
    with pytest.raises(AuthError) as refused:
        caller_from_token(token, SETTINGS)
    assert refused.value.status == 401


def test_a_token_naming_both_services_is_accepted() -> None:
    claims = {"sub": "x", "role": "patrol_officer", "iss": SETTINGS.jwt_issuer, "townships": ["210603008"],
              "aud": ["liandong-patrol", SETTINGS.jwt_audience], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, SETTINGS.jwt_secret.get_secret_value(), algorithm="HS256")
    assert caller_from_token(token, SETTINGS).township_codes == {"210603008"}


def test_algorithm_is_pinned() -> None:
    claims = {"sub": "x", "iss": SETTINGS.jwt_issuer, "aud": SETTINGS.jwt_audience, "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(AuthError):
        caller_from_token(unsigned, SETTINGS)
    hs512 = jwt.encode(claims, SETTINGS.jwt_secret.get_secret_value() * 3, algorithm="HS512")
    with pytest.raises(AuthError):
        caller_from_token(hs512, SETTINGS)


@pytest.mark.parametrize("secret", ["", "changeme", "short"])
def test_placeholder_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="LIANDONG_JWT_SECRET"):
        InfoShareApiSettings(jwt_secret=SecretStr(secret))
