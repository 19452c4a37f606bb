"""Intake validation: every bad input listed in the issue gets a field-level problem; good input a FindingReported."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.api import FindingSubmission
from services.patrol.domain.access import Principal
from services.patrol.domain.idempotency import fingerprint
from services.patrol.domain.intake import IntakeLimits, Rejected, build_finding, canonical_submission, finding_id_for
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TOWNSHIP = "210603008"
OFFICER = Principal("officer-1", "patrol_officer", frozenset({TOWNSHIP}))
LAT, LON = random_point_in_county("210603", random.Random(5))
VALID_USCC = "91110000600037341L"
VALID_RESIDENT_ID = "11010519491231002X"


def submission(**overrides: Any) -> FindingSubmission:
    body: dict[str, Any] = {
        "client_report_id": "r-1", "township_code": TOWNSHIP, "category_code": "illegal_construction",
        "location": {"latitude": LAT, "longitude": LON}, "observed_at": (NOW - timedelta(hours=2)).isoformat(),
        "description": "巡查發現",
    }
    body.update(overrides)
    return FindingSubmission.model_validate(body)


def problems_of(sub: FindingSubmission, principal: Principal = OFFICER) -> tuple[int, str, dict[str, str]]:
    with pytest.raises(Rejected) as caught:
        build_finding(sub, principal, load_reference_data(), NOW)
    return caught.value.status, caught.value.reason, {p.field: p.message for p in caught.value.problems}


def test_valid_submission_becomes_finding_keyed_by_dedup_group() -> None:
    sub = submission(subjects=[{"kind": "uscc", "value": VALID_USCC.lower()}])
    finding, key = build_finding(sub, OFFICER, load_reference_data(), NOW)
    assert finding.finding_id == finding_id_for("officer-1", "r-1")
    assert finding.county_code == "210603" and finding.reporter == "officer-1" and finding.received_at == NOW
    assert finding.subjects[0].value == VALID_USCC  # normalised
    assert key == load_reference_data().categories["illegal_construction"].dedup_group


def test_finding_id_is_deterministic_per_reporter_and_key() -> None:
    assert finding_id_for("a", "k") == finding_id_for("a", "k")
    assert finding_id_for("a", "k") != finding_id_for("b", "k")


def test_unknown_category_for_the_township() -> None:
    status, reason, fields = problems_of(submission(category_code="illegal_fishing"))
    assert (status, reason) == (422, "unknown_category")
    assert "not on the list of" in fields["category_code"]


def test_coordinates_outside_china() -> None:
    _status, reason, fields = problems_of(submission(location={"latitude": 51.5, "longitude": -0.12}))
    assert reason == "bad_location" and "outside China" in fields["location"]


def test_coordinates_outside_the_townships_county() -> None:
    _status, _reason, fields = problems_of(submission(location={"latitude": 39.9087, "longitude": 116.3975}))
    assert "not in the township's county 210603" in fields["location"]


def test_observed_in_the_future_beyond_tolerance() -> None:
    assert problems_of(submission(observed_at=(NOW + timedelta(minutes=6)).isoformat()))[2]["observed_at"].startswith(
        "is in the future")
    finding, _ = build_finding(submission(observed_at=(NOW + timedelta(minutes=4)).isoformat()), OFFICER,
                               load_reference_data(), NOW)
    assert finding.observed_at > NOW  # a device clock a little ahead is tolerated


def test_observed_absurdly_old() -> None:
    old = submission(observed_at=(NOW - timedelta(days=31)).isoformat())
    assert problems_of(old)[2] == {"observed_at": "is older than 30 days"}
    limits = IntakeLimits(max_age=timedelta(days=60))
    assert build_finding(old, OFFICER, load_reference_data(), NOW, limits)[0].client_report_id == "r-1"


def test_invalid_check_digits_are_refused_and_resident_ids_masked() -> None:
    bad_uscc = VALID_USCC[:-1] + ("M" if VALID_USCC[-1] != "M" else "N")
    bad_id = VALID_RESIDENT_ID[:-1] + "1"
    _status, reason, fields = problems_of(submission(subjects=[{"kind": "uscc", "value": bad_uscc},
                                                               {"kind": "resident_id", "value": bad_id}]))
    assert reason == "invalid_subject"
    assert set(fields) == {"subjects[0].value", "subjects[1].value"}
    assert bad_id not in fields["subjects[1].value"] and "110105" in fields["subjects[1].value"]


def test_several_problems_are_reported_together() -> None:
    _status, _reason, fields = problems_of(submission(category_code="nope", observed_at=(NOW + timedelta(days=1))
                                                      .isoformat(), location={"latitude": 0.5, "longitude": 0.5}))
    assert set(fields) == {"category_code", "location", "observed_at"}


def test_forbidden_township_and_unknown_township() -> None:
    assert problems_of(submission(township_code="210603009"))[:2] == (403, "forbidden_township")
    hotline = Principal("hotline", "system", frozenset({"*"}))
    assert problems_of(submission(township_code="110105001"), hotline)[:2] == (422, "unknown_township")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"description": "x" * 4001}, "description"),
    ({"description": ""}, "description"),
    ({"township_code": "21060300"}, "township_code"),
    ({"location": {"latitude": 91, "longitude": 120}}, "location.latitude"),
    ({"location": {"latitude": 40, "longitude": 120, "datum": "GCJ-02"}}, "location.datum"),
    ({"observed_at": "2026-03-10T09:00:00"}, "observed_at"),
    ({"client_report_id": ""}, "client_report_id"),
    ({"photos": [{"uri": "s3://x", "sha256": "abc"}]}, "photos.0.sha256"),
    ({"subjects": [{"kind": "passport", "value": "x"}]}, "subjects.0.kind"),
    ({"unexpected": 1}, "unexpected"),
])
def test_schema_level_errors_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        submission(**overrides)
    assert field in {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_fingerprint_covers_one_instant_whatever_its_offset() -> None:
    utc = submission(observed_at="2026-03-10T01:00:00+00:00")
    china = submission(observed_at="2026-03-10T09:00:00+08:00")
    assert fingerprint(canonical_submission(utc)) == fingerprint(canonical_submission(china))
    assert fingerprint(canonical_submission(utc)) != fingerprint(canonical_submission(submission(description="y")))
    assert china.observed_at.tzinfo == timezone(timedelta(hours=8))


def test_category_of_another_township_is_known_but_not_listed_here() -> None:
    reference = load_reference_data()
    assert "illegal_fishing" in reference.categories
    assert "illegal_fishing" not in reference.categories_for_township(TOWNSHIP, NOW)


def test_control_characters_are_refused_where_no_text_needs_them() -> None:
    _status, reason, fields = problems_of(submission(client_report_id="k\x00", description="a\x07b",
                                                     location={"latitude": LAT, "longitude": LON, "address": "x\x1b"}))
    assert reason == "invalid_request"
    assert fields == {"client_report_id": "contains control characters", "description": "contains control characters",
                      "location.address": "contains control characters"}
    finding, _ = build_finding(submission(description="第一行\n第二行\t完"), OFFICER, load_reference_data(), NOW)
    assert finding.description == "第一行\n第二行\t完"  # line breaks and tabs are text



def test_lone_surrogates_are_refused_by_the_schema() -> None:
    # Half a surrogate pair (JSON allows "\ud800") could not be encoded for Kafka: the constrained fields refuse it.
    with pytest.raises(ValidationError, match="unicode"):
        submission(description="壞\ud800字")
