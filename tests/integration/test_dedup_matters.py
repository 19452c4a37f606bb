"""One violation, one case — and no matter loses its competent body (issue 15), through the real broker.

Findings are posted over the JSON API; dispatch, info-share and patrol run as processes. Each situation is at its own
spot, far from the others: the register, the bodies' referrals topics and Open311 must show every matter and who
handles it.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from deploy.local_stack import Stack
from schemas.events import CASE_EVENT_MODELS, CaseOpened, FindingMerged, ReferralIssued, RelatedCaseOpened
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, referrals_topic
from services.dispatch.domain.routing import route
from services.reference.geography import county_of, random_point_in_county
from services.reference.loader import load_reference_data
from services.teams.client import BODY_TOPIC_MODELS
from tests.stack_fixtures import StackFactory, officer_token
from tests.topic_reader import read_events

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
DELEGATED = "210603003"  # 振興區: street vending is delegated to the township here
NOT_DELEGATED = "210604104"  # 振安區: street vending goes to the county housing & urban-management team
EARTH_RADIUS_M = 6371007.180918475


def offset(point: tuple[float, float], bearing_deg: float, metres: float) -> tuple[float, float]:
    la, lo = math.radians(point[0]), math.radians(point[1])
    b, d = math.radians(bearing_deg), metres / EARTH_RADIUS_M
    la2 = math.asin(math.sin(la) * math.cos(d) + math.cos(la) * math.sin(d) * math.cos(b))
    lo2 = lo + math.atan2(math.sin(b) * math.sin(d) * math.cos(la), math.cos(d) - math.sin(la) * math.sin(la2))
    return math.degrees(la2), math.degrees(lo2)


def spot(county: str, seed: int) -> tuple[float, float]:
    """A point of the county whose 100 m neighbourhood stays in it (the intake checks the county)."""
    rng = random.Random(seed)
    while True:
        point = random_point_in_county(county, rng)
        if all(county_of(*offset(point, b, 100)) == county for b in (0, 90, 180, 270)):
            return point


def lead(township: str, category: str) -> str:
    return route(load_reference_data(), township, category, NOW).lead_body_id


class Filer:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {officer_token(stack, [DELEGATED, NOT_DELEGATED])}"}
        self.ids: dict[str, str] = {}

    def file(self, name: str, township: str, category: str, point: tuple[float, float]) -> str:
        body = {"client_report_id": name, "township_code": township, "category_code": category,
                "location": {"latitude": point[0], "longitude": point[1], "datum": "WGS-84"},
                "observed_at": NOW.isoformat(), "description": f"巡查發現：{name}"}
        answer = httpx.post(f"http://127.0.0.1:{self.stack.patrol_port}/v1/findings", json=body,
                            headers=self.headers, timeout=30)
        assert answer.status_code == 202, answer.text
        self.ids[name] = answer.json()["finding_id"]
        return self.ids[name]


def test_every_matter_at_a_spot_has_its_competent_body(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.start_all()
    filer = Filer(stack)
    patrol = f"http://127.0.0.1:{stack.patrol_port}"
    info = f"http://127.0.0.1:{stack.info_share_port}"

    # The rule is visible before anyone posts: group and radius per category, JSON API and Open311 alike.
    categories = httpx.get(f"{patrol}/v1/categories", params={"township_code": DELEGATED},
                           headers=filer.headers, timeout=10).json()
    by_code = {c["category_code"]: c for c in categories}
    assert by_code["fire_hazard"]["dedup_group"] == "safety" and by_code["fire_hazard"]["dedup_radius_m"] == 50.0
    assert by_code["illegal_land_occupation"]["dedup_radius_m"] == 100.0
    services = httpx.get(f"{patrol}/open311/v2/services.json", params={"jurisdiction_id": DELEGATED}).json()
    assert {(s["service_code"], s["group"], s["dedup_radius_m"]) for s in services} >= {
        ("fire_hazard", "safety", 50.0), ("street_vending", "street_order", 50.0)}
    definition = httpx.get(f"{patrol}/open311/v2/services/city_appearance.json").json()
    assert (definition["dedup_group"], definition["dedup_radius_m"]) == ("street_order", 50.0)
    assert httpx.get(f"{patrol}/v1/categories", params={"township_code": "999999999"},
                     headers=filer.headers).status_code == 404

    # 1. A faulty lift, the same lift again 10 m away, then a fire hazard and a work-safety hazard at the lift.
    lift_spot = spot("210603", 1)
    lift = filer.file("lift", DELEGATED, "special_equipment_hazard", lift_spot)
    lift_again = filer.file("lift-again", DELEGATED, "special_equipment_hazard", offset(lift_spot, 45, 10))
    fire = filer.file("fire", DELEGATED, "fire_hazard", lift_spot)
    safety = filer.file("safety", DELEGATED, "work_safety_hazard", offset(lift_spot, 90, 5))
    # 2. A street vendor (delegated here) and an illegal billboard 0 m away (county housing team).
    vendor_spot = spot("210603", 2)
    vendor = filer.file("vendor", DELEGATED, "street_vending", vendor_spot)
    billboard = filer.file("billboard", DELEGATED, "city_appearance", vendor_spot)
    # 3. The same pair where vending is not delegated: the housing team handles both, so it is one case.
    county_spot = spot("210604", 3)
    vendor_b = filer.file("vendor-b", NOT_DELEGATED, "street_vending", county_spot)
    billboard_b = filer.file("billboard-b", NOT_DELEGATED, "city_appearance", county_spot)
    # 4. An illegal construction, and an illegal land occupation 80 m from it.
    build_spot = spot("210603", 4)
    build = filer.file("build", DELEGATED, "illegal_construction", build_spot)
    land = filer.file("land", DELEGATED, "illegal_land_occupation", offset(build_spot, 180, 80))
    total = 10

    def decided() -> list[Any]:
        events = read_events(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), CASE_EVENT_MODELS)
        found = [e for e in events if isinstance(e, CaseOpened | FindingMerged)]
        return events if len({e.finding.finding_id for e in found}) >= total else []

    events = poll_until(decided, 90, 0.5, "every finding decided")
    opened = {e.finding.finding_id: e for e in events if isinstance(e, CaseOpened)}
    merged = {e.finding.finding_id: e for e in events if isinstance(e, FindingMerged)}
    issued = {e.case_id: e for e in events if isinstance(e, ReferralIssued)}
    assert set(opened) == {lift, fire, safety, vendor, billboard, vendor_b, build, land}
    assert set(merged) == {lift_again, billboard_b}
    case = {name: (opened[fid].case_id if fid in opened else merged[fid].case_id) for name, fid in filer.ids.items()}

    # Same category: one violation, one case. Related category, same bodies: one case too, and the rule says so.
    assert case["lift-again"] == case["lift"] and merged[lift_again].rule == "same_category_within_radius"
    assert case["billboard-b"] == case["vendor-b"]
    assert merged[billboard_b].rule == "same_competent_bodies_within_radius"
    assert lead(NOT_DELEGATED, "street_vending") == lead(NOT_DELEGATED, "city_appearance") == \
        opened[vendor_b].lead_body_id

    # Related category, another body: its own case with its own referral, linked to the case(s) already there.
    expected_leads = {
        lift: lead(DELEGATED, "special_equipment_hazard"), fire: lead(DELEGATED, "fire_hazard"),
        safety: lead(DELEGATED, "work_safety_hazard"), vendor: f"township:{DELEGATED}",
        billboard: lead(DELEGATED, "city_appearance"), build: lead(DELEGATED, "illegal_construction"),
        land: lead(DELEGATED, "illegal_land_occupation"),
    }
    assert len({expected_leads[lift], expected_leads[fire], expected_leads[safety]}) == 3
    assert expected_leads[land].endswith(":natural_resources") and expected_leads[billboard].endswith(":housing_urban")
    for finding_id, body_id in expected_leads.items():
        assert opened[finding_id].lead_body_id == body_id
    related = {fid: [r.case_id for r in e.related_cases] for fid, e in opened.items()}
    assert related[fire] == [case["lift"]]
    assert sorted(related[safety]) == sorted([case["lift"], case["fire"]])
    assert related[billboard] == [case["vendor"]]
    assert related[land] == [case["build"]]
    assert related[lift] == related[vendor] == related[build] == related[vendor_b] == []

    # Every (matter, competent body) has a referral on that body's own topic, naming the other matters there; the
    # body of an earlier case is told on its topic of each later matter opened at its place.
    def on_topic_of(body_id: str) -> list[Any]:
        return read_events(stack.bootstrap_servers, referrals_topic(body_id, stack.topic_prefix), BODY_TOPIC_MODELS)

    told = [(e.case_id, e.related.case_id, e.related.lead_body_id) for e in on_topic_of(opened[lift].lead_body_id)
            if isinstance(e, RelatedCaseOpened)]
    for name, finding_id in (("lift", lift), ("fire", fire), ("safety", safety), ("vendor", vendor),
                             ("billboard", billboard), ("vendor-b", vendor_b), ("build", build), ("land", land)):
        body_id = opened[finding_id].lead_body_id
        on_topic = [r for r in on_topic_of(body_id) if isinstance(r, ReferralIssued)]
        mine = [r for r in on_topic if r.case_id == case[name]]
        assert len(mine) == 1, (name, body_id, on_topic)
        assert [r.case_id for r in mine[0].related_cases] == related[finding_id]
    assert sorted(told) == sorted([(case["lift"], case["fire"], opened[fire].lead_body_id),
                                   (case["lift"], case["safety"], opened[safety].lead_body_id)])
    build_told = [(e.case_id, e.related.case_id) for e in on_topic_of(opened[build].lead_body_id)
                  if isinstance(e, RelatedCaseOpened)]
    assert build_told == [(case["build"], case["land"])]
    police = issued[case["fire"]]
    assert [(r.category_code, r.lead_body_id) for r in police.related_cases] == [
        ("special_equipment_hazard", expected_leads[lift])]

    # The register shows the related cases both ways, and every matter of a case with who handles it.
    def case_answer(case_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            answer = httpx.get(f"{info}/v1/cases/{case_id}", timeout=10)
            return answer.json() if answer.status_code == 200 else None
        return poll_until(probe, 60, 0.5, f"case {case_id} in the register")

    poll_until(lambda: httpx.get(f"{info}/v1/stats/summary", timeout=5).json()["ledger_events"] >= 18, 60, 0.5,
               "every case event in the register")
    lift_case = case_answer(case["lift"])
    assert {(r["case_id"], r["lead_body_id"]) for r in lift_case["related_cases"]} == {
        (case["fire"], expected_leads[fire]), (case["safety"], expected_leads[safety])}
    assert lift_case["matters"] == [{"category_code": "special_equipment_hazard",
                                     "body_id": expected_leads[lift], "report_count": 2}]
    vendor_case = case_answer(case["vendor"])
    assert [(r["case_id"], r["category_code"]) for r in vendor_case["related_cases"]] == [
        (case["billboard"], "city_appearance")]
    county_case = case_answer(case["vendor-b"])
    assert {(m["category_code"], m["body_id"]) for m in county_case["matters"]} == {
        ("street_vending", opened[vendor_b].lead_body_id), ("city_appearance", opened[vendor_b].lead_body_id)}
    assert county_case["related_cases"] == []
    assert [r["case_id"] for r in case_answer(case["build"])["related_cases"]] == [case["land"]]

    # Open311: each request names the body responsible for its own matter, and its notes the other matters there.
    def request(finding_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            answer = httpx.get(f"{patrol}/open311/v2/requests/{finding_id}.json", params={"extensions": "true"},
                               timeout=10)
            if answer.status_code != 200:
                return None
            [found] = answer.json()
            return found if "awaiting registration" not in (found["status_notes"] or "") else None
        return poll_until(probe, 60, 0.5, f"request {finding_id} registered")

    reference = load_reference_data()
    name = {b: reference.body(b).name for b in expected_leads.values()}
    # Patrol's case view follows the case events on its own: once every case here is in it, each shows the others.
    for finding_id in (fire, lift, land, billboard_b, vendor, billboard, *opened):
        request(finding_id)
    fire_request = request(fire)
    assert fire_request["agency_responsible"] == name[expected_leads[fire]]
    assert case["lift"] in fire_request["status_notes"] and name[expected_leads[lift]] in fire_request["status_notes"]
    lift_request = request(lift)
    assert lift_request["agency_responsible"] == name[expected_leads[lift]]
    assert case["fire"] in lift_request["status_notes"] and case["safety"] in lift_request["status_notes"]
    assert {r["case_id"] for r in lift_request["extended_attributes"]["related_cases"]} == {case["fire"],
                                                                                             case["safety"]}
    land_request = request(land)
    assert land_request["agency_responsible"] == name[expected_leads[land]]
    assert case["build"] in land_request["status_notes"]
    billboard_b_request = request(billboard_b)
    assert billboard_b_request["agency_responsible"] == reference.body(opened[vendor_b].lead_body_id).name
    assert "一併處理" in billboard_b_request["status_notes"]
    listed = httpx.get(f"{patrol}/open311/v2/requests.json",
                       params={"service_request_id": f"{vendor},{billboard}"}, timeout=10).json()
    assert {r["service_request_id"]: r["agency_responsible"] for r in listed} == {
        vendor: name[f"township:{DELEGATED}"], billboard: name[expected_leads[billboard]]}
