"""Open311 GeoReport v2 conformance: every endpoint in JSON and XML, spec errors (400/403/404), extensions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reference.loader import load_reference_data
from tests.patrol_fixtures import CATEGORY, HOTLINE_KEY, TOWNSHIP, VIDEO_KEY, PatrolHarness, point_in

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.patrol_fixtures"]

BASE = "/open311/v2"
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]


def xml_of(answer: Any, root: str) -> ET.Element:
    assert answer.headers["content-type"].startswith("text/xml"), answer.headers["content-type"]
    element = ET.fromstring(answer.content)  # raises if the document is not well-formed
    assert element.tag == root, answer.text
    return element


def spec_errors(answer: Any, status: int) -> list[str]:
    """The spec's error document, in whichever format was asked for; returns the descriptions."""
    assert answer.status_code == status, answer.text
    if answer.headers["content-type"].startswith("text/xml"):
        root = xml_of(answer, "errors")
        assert {e.findtext("code") for e in root.iter("error")} == {str(status)}
        return [e.findtext("description") or "" for e in root.iter("error")]
    body = answer.json()
    assert isinstance(body, list) and body and all(e["code"] == status for e in body), body
    return [e["description"] for e in body]


def form(**fields: Any) -> dict[str, Any]:
    latitude, longitude = point_in("210603", 11)
    base = {"api_key": HOTLINE_KEY, "jurisdiction_id": TOWNSHIP, "service_code": CATEGORY, "lat": latitude,
            "long": longitude, "description": "市民來電：有人在綠地上違法搭建，聯繫電話13812345678",
            "phone": "13812345678", "first_name": "張"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def test_discovery_and_services_in_both_formats(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    client = patrol.client
    discovery = client.get(f"{BASE}/discovery.json").json()
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")
    assert xml_of(client.get(f"{BASE}/discovery.xml"), "discovery").find("endpoints/endpoint/formats/format") \
        is not None

    everything = client.get(f"{BASE}/services.json").json()
    assert {s["service_code"] for s in everything} == set(load_reference_data().categories)
    listed = client.get(f"{BASE}/services.json", params={"jurisdiction_id": TOWNSHIP}).json()
    assert CATEGORY in {s["service_code"] for s in listed} and "illegal_fishing" not in {
        s["service_code"] for s in listed}
    root = xml_of(client.get(f"{BASE}/services.xml", params={"jurisdiction_id": TOWNSHIP}), "services")
    services = root.findall("service")
    assert len(services) == len(listed)
    assert {child.tag for child in services[0]} == {"service_code", "service_name", "description", "metadata",
                                                   "type", "keywords", "group", "dedup_radius_m"}
    assert services[0].findtext("metadata") == "true" and services[0].findtext("type") == "realtime"

    definition = client.get(f"{BASE}/services/{CATEGORY}.json", params={"jurisdiction_id": TOWNSHIP}).json()
    assert definition["service_code"] == CATEGORY
    assert "subject_resident_id" in [a["code"] for a in definition["attributes"]]
    root = xml_of(client.get(f"{BASE}/services/{CATEGORY}.xml"), "service_definition")
    assert [a.findtext("code") for a in root.iter("attribute")] == [a["code"] for a in definition["attributes"]]
    assert root.find("attributes/attribute/values/value/key") is not None

    for fmt in ("json", "xml"):
        assert "jurisdiction_id 110105001 not found" in spec_errors(
            client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": "110105001"}), 404)[0]
        spec_errors(client.get(f"{BASE}/services/illegal_fishing.{fmt}", params={"jurisdiction_id": TOWNSHIP}),
                    404)
        spec_errors(client.get(f"{BASE}/services/no_such_service.{fmt}"), 404)
        spec_errors(client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": "2106"}), 400)
        spec_errors(client.get(f"{BASE}/no_such_thing.{fmt}"), 404)
    spec_errors(client.get(f"{BASE}/services.csv"), 400)


def test_post_requests_form_encoded_in_both_formats(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    client = patrol.client
    answer = client.post(f"{BASE}/requests.json", data=form(**{"attribute[subject_uscc]": "91110000600037341l"}))
    assert answer.status_code == 200, answer.text
    [created] = answer.json()
    assert set(created) == {"service_request_id", "token", "service_notice", "account_id"}
    again = client.post(f"{BASE}/requests.json", data=form(**{"attribute[subject_uscc]": "91110000600037341l"}))
    assert again.json() == answer.json() and again.headers["Idempotent-Replayed"] == "true"

    as_xml = client.post(f"{BASE}/requests.xml", data=form(**{"attribute[client_report_id]": "cam-1",
                                                               "attribute[source]": "video"}))
    request = xml_of(as_xml, "service_requests").find("request")
    assert request is not None and request.findtext("service_request_id") == request.findtext("token")
    conflict = client.post(f"{BASE}/requests.xml", data=form(**{"attribute[client_report_id]": "cam-1",
                                                                 "description": "另一件事"}))
    assert "already used for a different report" in spec_errors(conflict, 409)[0]
    # A key for one township files there without naming it (jurisdiction_id may be left out).
    single = client.post(f"{BASE}/requests.json", data=form(api_key=VIDEO_KEY, jurisdiction_id=None))
    assert single.status_code == 200, single.text

    findings = {f.finding_id: f for f in patrol.findings_on_topic()}
    assert set(findings) == {created["service_request_id"], request.findtext("service_request_id"),
                             single.json()[0]["service_request_id"]}
    first = findings[created["service_request_id"]]
    assert (first.source.value, first.reporter, first.subjects[0].value) == (
        "hotline_12345", "hotline-12345", "91110000600037341L")
    assert findings[request.findtext("service_request_id") or ""].source.value == "video"
    audited = [e for e in patrol.audit.entries if e.action == "open311_post_request"]
    assert [e.outcome for e in audited] == ["accepted", "replayed", "accepted", "conflict", "accepted"]
    assert all(e.what.get("contact_phone") == "138****5678" for e in audited)
    assert "13812345678" not in str([e.to_dict() for e in audited])


def test_post_errors_follow_the_spec_and_keep_nothing(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    client = patrol.client
    cases: list[tuple[dict[str, Any], int, str]] = [
        (form(api_key=None), 403, "api_key is required"),
        (form(api_key="wrong-key-0000000000000"), 403, "invalid api_key"),
        (form(api_key=VIDEO_KEY, jurisdiction_id="210603009"), 403, "may not file for township 210603009"),
        (form(service_code=None), 400, "service_code: is required"),
        (form(service_code="parking"), 400, "service_code: 'parking' is not a service"),
        (form(service_code="illegal_fishing"), 400, "service_code: category 'illegal_fishing' is not on the list"),
        (form(lat=None, long=None, address_string="花園路 1 號"), 400, "no geocoder"),
        (form(lat="abc"), 400, "lat: 'abc' is not a number"),
        (form(lat=31.23, long=121.47), 400, "lat: coordinates are in county"),
        (form(description="違" * 4001), 400, "description: String should have at most 4000 characters"),
        (form(**{"attribute[subject_resident_id]": "110105194912310021"}), 400, "attribute[subject_resident_id]"),
        (form(**{"attribute[observed_datetime]": (datetime.now(UTC) + timedelta(days=1)).isoformat()}), 400,
         "attribute[observed_datetime]: is in the future"),
        (form(**{"attribute[size]": "big"}), 400, "attribute[size]: is not an attribute"),
        (form(media_url="https://evidence.example/p.jpg"), 400, "attribute[photo_sha256]"),
        (form(jurisdiction_id="110105001"), 400, "not a township of this deployment"),
    ]
    for fmt in ("json", "xml"):
        for data, status, text in cases:
            descriptions = spec_errors(client.post(f"{BASE}/requests.{fmt}", data=data), status)
            assert any(text in d for d in descriptions), (fmt, text, descriptions)
        json_body = client.post(f"{BASE}/requests.{fmt}", json={"service_code": CATEGORY})
        assert "Content-Type must be" in spec_errors(json_body, 415)[0]
        broken = client.post(f"{BASE}/requests.{fmt}", content=b"--x\r\nbroken",
                             headers={"Content-Type": "multipart/form-data"})
        assert "malformed form data" in spec_errors(broken, 400)[0]
    masked = spec_errors(client.post(f"{BASE}/requests.json", data=form(**{
        "attribute[subject_resident_id]": "110105194912310021"})), 400)
    assert "110105194912310021" not in masked[0]
    assert patrol.findings_on_topic() == []
    refused = [e for e in patrol.audit.entries if e.action == "open311_post_request"]
    assert len(refused) == 2 * (len(cases) + 2) + 1 and all(e.outcome != "accepted" for e in refused)


def test_tokens_and_requests_before_and_after_registration(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    client = patrol.client
    register = patrol.case_views()  # empty: info-share has started, nothing is registered yet
    first = client.post(f"{BASE}/requests.json", data=form()).json()[0]["service_request_id"]
    latitude, longitude = point_in("210603", 11)
    second = client.post(f"{BASE}/requests.json", data=form(
        api_key=VIDEO_KEY, lat=latitude + 0.00004, long=longitude, description="視頻巡查發現搭建",
        **{"attribute[source]": "video"})).json()[0]["service_request_id"]

    for fmt in ("json", "xml"):
        token = client.get(f"{BASE}/tokens/{first}.{fmt}")
        if fmt == "json":
            assert token.json() == [{"service_request_id": first, "token": first}]
        else:
            assert xml_of(token, "service_requests").findtext("request/service_request_id") == first
        spec_errors(client.get(f"{BASE}/tokens/unknown-token.{fmt}"), 404)
        spec_errors(client.get(f"{BASE}/requests/unknown-id.{fmt}"), 404)
    pending = client.get(f"{BASE}/requests/{first}.json", params={"extensions": "true"}).json()[0]
    assert pending["status"] == "open" and "awaiting registration" in pending["status_notes"]

    register.register_topic(patrol.bootstrap_servers, patrol.topic_prefix)
    [opened] = client.get(f"{BASE}/requests/{first}.json",
                          params={"extensions": "true", "api_key": HOTLINE_KEY}).json()
    assert list(opened)[:len(REQUEST_FIELDS)] == REQUEST_FIELDS
    assert opened["status"] == "open" and opened["agency_responsible"].endswith("执法队伍")
    assert opened["expected_datetime"] and opened["requested_datetime"].endswith("+08:00")
    assert opened["description"] == "市民來電：有人在綠地上違法搭建，聯繫電話138****5678"
    extensions = opened["extended_attributes"]
    assert extensions["case_id"] and extensions["duplicate_of"] is None and extensions["report_count"] == 2
    assert extensions["routing"]["rule"] == "county_department" and extensions["routing"]["catalogue_version"]
    [merged] = client.get(f"{BASE}/requests/{second}.json", params={"extensions": "true"}).json()
    assert merged["extended_attributes"]["duplicate_of"] == first
    assert merged["extended_attributes"]["case_id"] == extensions["case_id"]
    assert merged["description"] is None and merged["lat"] == round(merged["lat"], 3)  # public view
    assert "extended_attributes" not in client.get(f"{BASE}/requests/{second}.json").json()[0]

    root = xml_of(client.get(f"{BASE}/requests/{second}.xml", params={"extensions": "true"}), "service_requests")
    request = root.find("request")
    assert request is not None and [child.tag for child in request][:len(REQUEST_FIELDS)] == REQUEST_FIELDS
    assert request.findtext("extended_attributes/duplicate_of") == first
    assert [e.text for e in request.iter("item_code")] == extensions["routing"]["item_codes"]


def test_get_requests_with_filters(make_patrol: Any) -> None:
    patrol: PatrolHarness = make_patrol()
    client = patrol.client
    ids = {}
    for index, category in enumerate((CATEGORY, "illegal_land_occupation")):
        latitude, longitude = point_in("210603", 20 + index * 7)
        answer = client.post(f"{BASE}/requests.json", data=form(service_code=category, lat=latitude, long=longitude))
        ids[category] = answer.json()[0]["service_request_id"]
    register = patrol.case_views()
    events = register.register_topic(patrol.bootstrap_servers, patrol.topic_prefix)
    issued = [e for e in events if getattr(e, "event", "") == "referral_issued"]
    to_close = next(e for e in issued if e.finding.finding_id == ids[CATEGORY])
    register.close_case(to_close.case_id, to_close.referral_id, to_close.body_id, TOWNSHIP)

    def listed(fmt: str = "json", **params: str) -> list[str]:
        answer = client.get(f"{BASE}/requests.{fmt}", params=params)
        assert answer.status_code == 200, answer.text
        if fmt == "xml":
            return [r.findtext("service_request_id") or "" for r in xml_of(answer, "service_requests")]
        return [r["service_request_id"] for r in answer.json()]

    assert sorted(listed()) == sorted(ids.values())
    assert sorted(listed("xml")) == sorted(ids.values())
    assert listed(service_code=CATEGORY) == [ids[CATEGORY]]
    assert listed(status="closed") == [ids[CATEGORY]]
    assert listed(status="open") == [ids["illegal_land_occupation"]]
    assert sorted(listed(status="open,closed")) == sorted(ids.values())
    assert listed(jurisdiction_id="210603009") == []
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert listed(end_date=yesterday) == []
    assert sorted(listed(start_date=yesterday)) == sorted(ids.values())
    assert listed(service_request_id=f"{ids[CATEGORY]},unknown", status="open") == [ids[CATEGORY]]
    closed = client.get(f"{BASE}/requests/{ids[CATEGORY]}.json").json()[0]
    assert closed["status"] == "closed" and closed["expected_datetime"] is None
    assert "已結案" in closed["status_notes"]
    for fmt in ("json", "xml"):
        assert "status" in spec_errors(client.get(f"{BASE}/requests.{fmt}", params={"status": "pending"}), 400)[0]
        spec_errors(client.get(f"{BASE}/requests.{fmt}", params={"start_date": "2026-02-01T00:00:00Z",
                                                                  "end_date": "2026-01-01T00:00:00Z"}), 400)
        spec_errors(client.get(f"{BASE}/requests.{fmt}", params={"start_date": "2026-01-01T00:00:00"}), 400)
        spec_errors(client.get(f"{BASE}/requests.{fmt}", params={"api_key": "wrong-key-0000000000000"}), 403)
        spec_errors(client.get(f"{BASE}/requests.{fmt}", params={"jurisdiction_id": "110105001"}), 404)
