"""Open311 mapping without HTTP: services from the township's list, form → submission, register → request, XML."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from services.common.privacy import canonical
from services.patrol.domain.idempotency import KeyRecord, KeyState
from services.patrol.domain.intake import Rejected
from services.patrol.domain.open311.form import open311_field, parse_post
from services.patrol.domain.open311.query import parse_query
from services.patrol.domain.open311.requests import pending_view, post_answer, request_view
from services.patrol.domain.open311.services import service_definition, service_list
from services.patrol.domain.register import CaseSnapshot, ReferralSnapshot, ReportSnapshot, RoutingSnapshot
from services.patrol.entrypoints.open311_format import errors, to_xml
from services.reference.geography import random_point_in_county
from services.reference.loader import load_reference_data

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TOWNSHIP = "210603008"
LAT, LON = random_point_in_county("210603", random.Random(2))
REFERENCE = load_reference_data()


def form(**fields: str) -> list[tuple[str, str]]:
    base = {"api_key": "k" * 20, "jurisdiction_id": TOWNSHIP, "service_code": "illegal_construction",
            "lat": str(LAT), "long": str(LON), "description": "市民反映違建"}
    base.update(fields)
    return [(k, v) for k, v in base.items() if v is not None]


def rejected(pairs: list[tuple[str, str]], default_township: str | None = None) -> dict[str, str]:
    with pytest.raises(Rejected) as caught:
        parse_post(pairs, default_township=default_township, reference=REFERENCE, received_at=NOW)
    assert caught.value.status == 400
    return {p.field: p.message for p in caught.value.problems}


def test_services_follow_the_townships_list() -> None:
    plain = {s["service_code"] for s in service_list(REFERENCE, TOWNSHIP, NOW)}
    assert plain == set(REFERENCE.categories_for_township(TOWNSHIP, NOW))
    assert "illegal_fishing" not in plain
    assert {s["service_code"] for s in service_list(REFERENCE, None, NOW)} == set(REFERENCE.categories)
    first = service_list(REFERENCE, TOWNSHIP, NOW)[0]
    assert set(first) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group",
                          "dedup_radius_m"}
    assert first["metadata"] is True and first["type"] == "realtime"
    # The dedup rule is visible: the group is the kind of matter, the radius the place (docs/dedup.md).
    category = REFERENCE.categories[first["service_code"]]
    assert (first["group"], first["dedup_radius_m"]) == (category.dedup_group, category.dedup_radius_m)


def test_definition_lists_subject_attributes_of_the_category() -> None:
    definition = service_definition(REFERENCE.categories["illegal_construction"])
    codes = [a["code"] for a in definition["attributes"]]
    assert codes == ["client_report_id", "observed_datetime", "source", "photo_sha256", "subject_uscc",
                     "subject_resident_id"]
    assert [a["order"] for a in definition["attributes"]] == list(range(1, 7))
    source = next(a for a in definition["attributes"] if a["code"] == "source")
    assert source["datatype"] == "singlevaluelist" and {"key": "video", "name": "video"} in source["values"]
    assert (definition["dedup_group"], definition["dedup_radius_m"]) == ("land_and_construction", 50.0)


def test_form_becomes_submission_with_attributes() -> None:
    post = parse_post(form(**{"attribute[subject_uscc]": "91110000600037341L", "attribute[source]": "video",
                              "attribute[client_report_id]": "cam-7-0001", "address_string": "花園路 3 號",
                              "attribute[observed_datetime]": "2026-03-10T16:30:00+08:00", "phone": "13812345678"}),
                      default_township=None, reference=REFERENCE, received_at=NOW)
    sub = post.submission
    assert (sub.client_report_id, sub.township_code, sub.category_code, sub.source.value) == (
        "cam-7-0001", TOWNSHIP, "illegal_construction", "video")
    assert sub.location.address == "花園路 3 號" and sub.subjects[0].kind == "uscc"
    assert sub.observed_at == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)


def test_defaults_and_derived_key() -> None:
    post = parse_post(form(description=None, jurisdiction_id=None), default_township=TOWNSHIP, reference=REFERENCE,
                      received_at=NOW)
    assert post.submission.description == "违法建设" and post.submission.source.value == "hotline_12345"
    assert post.submission.observed_at == NOW
    again = parse_post(form(description=None, jurisdiction_id=None), default_township=TOWNSHIP,
                       reference=REFERENCE, received_at=NOW + timedelta(hours=3))
    assert again.submission.client_report_id == post.submission.client_report_id  # a retry the same day
    assert again.fingerprint == post.fingerprint
    next_day = parse_post(form(description=None, jurisdiction_id=None), default_township=TOWNSHIP,
                          reference=REFERENCE, received_at=NOW + timedelta(days=1))
    assert next_day.submission.client_report_id != post.submission.client_report_id
    other_key = parse_post(form(api_key="another-key-0123456789"), default_township=None, reference=REFERENCE,
                           received_at=NOW)
    assert other_key.fingerprint == parse_post(form(), default_township=None, reference=REFERENCE,
                                               received_at=NOW).fingerprint  # the key is no part of the content


def test_form_problems_use_form_names() -> None:
    assert rejected(form(service_code=None, lat=None)) == {"service_code": "is required", "lat": "is required"}
    only_address = rejected(form(lat=None, long=None, address_string="花園路 3 號"))
    assert "no geocoder" in only_address["lat"] and "long" in only_address
    assert "not a number" in rejected(form(lat="north"))["lat"]
    assert rejected(form(lat="nan"))["lat"] == "is not a finite number"
    assert rejected(form(jurisdiction_id=None))["jurisdiction_id"].startswith("is required")
    assert "not an attribute of service" in rejected(form(**{"attribute[colour]": "red"}))["attribute[colour]"]
    assert "not a service" in rejected(form(service_code="parking"))["service_code"]
    assert "SHA-256" in rejected(form(media_url="https://x/p.jpg"))["attribute[photo_sha256]"]
    assert rejected([*form(), ("lat", "1")])["lat"] == "is given more than once"
    assert "attribute[observed_datetime]" in rejected(form(**{"attribute[observed_datetime]": "yesterday"}))
    assert "description" in rejected(form(description="x" * 4001))
    assert "lat" in rejected(form(lat="95"))


@pytest.mark.parametrize(("field", "name"), [
    ("township_code", "jurisdiction_id"), ("category_code", "service_code"), ("location", "lat"),
    ("location.longitude", "long"), ("observed_at", "attribute[observed_datetime]"),
    ("subjects[1].value", "attribute[subject_resident_id]"), ("photos.0.uri", "media_url"),
    ("client_report_id", "attribute[client_report_id]"),
])
def test_submission_fields_map_to_form_names(field: str, name: str) -> None:
    raw = {"subjects": [{"kind": "uscc", "value": "x"}, {"kind": "resident_id", "value": "y"}]}
    assert open311_field(field, raw) == name


def test_query_defaults_and_errors() -> None:
    query = parse_query(now=NOW, service_request_id=None, service_code="a,b", status="open", start_date=None,
                        end_date=None, township_codes=None)
    assert query.start == NOW - timedelta(days=90) and query.category_codes == {"a", "b"}
    assert query.statuses == {"open"} and query.limit == 1000
    by_id = parse_query(now=NOW, service_request_id="x, y", service_code="a", status="bogus", start_date="no",
                        end_date=None, township_codes=None)
    assert by_id.finding_ids == ("x", "y") and by_id.start is None  # ids override every other filter
    with pytest.raises(Rejected) as caught:
        parse_query(now=NOW, service_request_id=None, service_code=None, status="pending",
                    start_date="2026-01-01T00:00:00", end_date="2025-01-01T00:00:00Z", township_codes=None)
    assert {p.field for p in caught.value.problems} == {"status", "start_date"}
    with pytest.raises(Rejected):
        parse_query(now=NOW, service_request_id=None, service_code=None, status=None,
                    start_date="2026-01-01T00:00:00Z", end_date="2026-06-01T00:00:00Z", township_codes=None)


def registered(status: str = "referred", merged: bool = False) -> tuple[ReportSnapshot, CaseSnapshot]:
    report = ReportSnapshot(
        finding_id="f-2" if merged else "f-1", case_id="case-1", source="patrol", reporter="officer-1",
        township_code=TOWNSHIP, category_code="illegal_construction", latitude=40.123456, longitude=124.456789,
        observed_at=NOW, received_at=NOW, description="聯繫 13812345678",
        merge_rule="within_radius" if merged else None)
    case = CaseSnapshot(
        case_id="case-1", county_code="210603", township_code=TOWNSHIP, category_code="illegal_construction",
        status=status, lead_body_id="team:210603:housing_urban", opened_at=NOW, updated_at=NOW + timedelta(hours=1),
        report_count=2, opening_finding_id="f-1",
        routing=RoutingSnapshot("county_department", ("DD-CF-023",), "2025.1", "no grant"),
        referrals=(ReferralSnapshot("ref-1", "team:210603:housing_urban", 1, "issued", NOW, NOW + timedelta(days=3)),))
    return report, case


def test_request_view_for_the_township_and_for_the_public() -> None:
    report, case = registered()
    full = request_view(report, case, REFERENCE, full=True, extensions=False)
    assert full["status"] == "open" and full["description"] == "聯繫 138****5678"
    assert full["agency_responsible"] == REFERENCE.body("team:210603:housing_urban").name
    assert full["expected_datetime"] == "2026-03-13T17:00:00+08:00"
    assert full["requested_datetime"] == "2026-03-10T17:00:00+08:00"
    assert (full["lat"], full["long"]) == (40.123456, 124.456789) and "extended_attributes" not in full
    public = request_view(report, case, REFERENCE, full=False, extensions=False)
    assert public["description"] is None and (public["lat"], public["long"]) == (40.123, 124.457)


def test_extensions_carry_case_duplicate_and_routing() -> None:
    report, case = registered(merged=True)
    view = request_view(report, case, REFERENCE, full=True, extensions=True)
    assert view["extended_attributes"]["duplicate_of"] == "f-1" and view["extended_attributes"]["case_id"] == "case-1"
    assert view["extended_attributes"]["routing"]["item_codes"] == ["DD-CF-023"]
    assert "f-1" in view["status_notes"]
    opener, case = registered()
    assert request_view(opener, case, REFERENCE, full=True, extensions=True)["extended_attributes"][
        "duplicate_of"] is None


def test_closed_case_and_no_pending_deadline() -> None:
    report, case = registered(status="closed")
    case = CaseSnapshot(**{**case.__dict__, "referrals": (ReferralSnapshot(
        "ref-1", "team:210603:housing_urban", 1, "closed", NOW, NOW + timedelta(days=3)),)})
    view = request_view(report, case, REFERENCE, full=True, extensions=False)
    assert view["status"] == "closed" and view["expected_datetime"] is None


def test_pending_view_and_post_answer() -> None:
    record = KeyRecord("t", "hotline", "k", "fp", "f-9", TOWNSHIP, "illegal_construction", 40.1, 124.2,
                       KeyState.ACCEPTED, NOW)
    view = pending_view(record, REFERENCE, full=False, extensions=True)
    assert view["service_request_id"] == "f-9" and view["status"] == "open" and view["agency_responsible"] is None
    assert post_answer("f-9") == {"service_request_id": "f-9", "token": "f-9",
                                  "service_notice": "已受理上報（accepted）", "account_id": None}


def test_xml_uses_spec_element_names_and_survives_control_characters() -> None:
    document = to_xml("service_requests", [{"service_request_id": "f-1", "description": "a\x01b <c> & d",
                                            "metadata": True, "media_url": None,
                                            "extended_attributes": {"routing": {"item_codes": ["A", "B"]}}}])
    root = ET.fromstring(document)
    request = root.find("request")
    assert root.tag == "service_requests" and request is not None
    assert request.findtext("description") == "ab <c> & d" and request.findtext("metadata") == "true"
    assert request.find("media_url") is not None and request.findtext("media_url") == ""
    assert [e.text for e in request.iter("item_code")] == ["A", "B"]


def test_error_documents_in_both_formats() -> None:
    as_json = errors("json", 400, ["lat: is required", "long: is required"])
    assert as_json.status_code == 400 and as_json.body.startswith(b'[{"code":400,"description":"lat: is required"}')
    as_xml = errors("xml", 403, ["invalid api_key"])
    root = ET.fromstring(as_xml.body)
    assert root.tag == "errors" and root.findtext("error/code") == "403"
    assert as_xml.media_type is not None and as_xml.media_type.startswith("text/xml")


@pytest.mark.parametrize("written", ["210681 19981217 2918", "210681-19960421-7499", "210681－19930625－3555",
                                     "SFZ210681199601257604abc"])
def test_the_masked_view_leaves_no_grouped_or_glued_id_in_clear(written: str) -> None:
    report, case = registered()
    report = ReportSnapshot(**{**report.__dict__, "description": f"當事人身份證{written}，電話一八七七四四三六七一九",
                               "address": f"振興區 {written}"})
    full = request_view(report, case, REFERENCE, full=True, extensions=False)
    for field in ("description", "address"):
        assert "210681************" in full[field], full[field]
        assert canonical(written).removeprefix("SFZ")[6:18] not in canonical(full[field]), full[field]
    assert "187****6719" in full["description"]
