"""Who may file where: officers for their townships (and configured neighbours), systems for theirs, not teams."""

from __future__ import annotations

import pytest

from services.patrol.adapters.auth import parse_api_keys
from services.patrol.domain.access import Principal, filing_refusal, may_read, parse_adjoining

OWN, NEIGHBOUR, ELSEWHERE = "210603008", "210603009", "210681001"


def officer(*townships: str) -> Principal:
    return Principal("officer-7", "patrol_officer", frozenset(townships))


def test_officer_files_for_own_township_only() -> None:
    assert filing_refusal(officer(OWN), OWN) is None
    refusal = filing_refusal(officer(OWN), NEIGHBOUR)
    assert refusal is not None and "officer-7" in refusal and NEIGHBOUR in refusal


def test_adjoining_township_only_when_configured() -> None:
    adjoining = parse_adjoining(f"{OWN}:{NEIGHBOUR}")
    assert filing_refusal(officer(OWN), NEIGHBOUR, adjoining) is None
    assert filing_refusal(officer(OWN), ELSEWHERE, adjoining) is not None
    # Adjoining is a rule for officers on patrol, not a way for systems to widen their keys.
    system = Principal("video", "system", frozenset({OWN}))
    assert filing_refusal(system, NEIGHBOUR, adjoining) is not None


@pytest.mark.parametrize("role", ["county_team", "dispatched_agency", "county_coordination"])
def test_receiving_bodies_cannot_file_even_for_listed_townships(role: str) -> None:
    refusal = filing_refusal(Principal("team-210603-housing", role, frozenset({OWN})), OWN)
    assert refusal is not None and "cannot file findings as a township" in refusal


def test_unknown_or_missing_role_cannot_file() -> None:
    assert filing_refusal(Principal("x", "", frozenset({OWN})), OWN) == "role (none) may not file findings"
    assert filing_refusal(Principal("x", "auditor", frozenset({OWN})), OWN) is not None


def test_system_with_every_township() -> None:
    hotline = Principal("hotline", "system", frozenset({"*"}))
    assert filing_refusal(hotline, ELSEWHERE) is None


def test_reporter_may_always_read_own_finding() -> None:
    assert may_read(officer(ELSEWHERE), OWN, reporter="officer-7")
    assert not may_read(officer(ELSEWHERE), OWN, reporter="someone-else")
    assert may_read(officer(OWN), OWN, reporter="someone-else")


@pytest.mark.parametrize("raw", ["210603008", "21060300:210603009", "210603008:abc", "210603008:"])
def test_bad_adjoining_configuration_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="LIANDONG_ADJOINING_TOWNSHIPS"):
        parse_adjoining(raw)


def test_api_keys_parse_with_every_township_and_refuse_short_keys() -> None:
    keys = parse_api_keys("hotline-key-0123456789=hotline:*; video-key-0123456789ab=video:210603008,210603009")
    assert keys["hotline-key-0123456789"].township_codes == frozenset({"*"})
    assert keys["video-key-0123456789ab"] == Principal("video", "system", frozenset({OWN, NEIGHBOUR}), "api_key")
    with pytest.raises(ValueError, match="at least 16"):
        parse_api_keys("short=hotline:*")
    with pytest.raises(ValueError, match="key=system-name"):
        parse_api_keys("only-a-key-without-name")
