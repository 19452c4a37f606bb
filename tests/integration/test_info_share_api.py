"""The HTTP API on SQLite and PostgreSQL: feed cursor and filters, audiences, queries, figures, and the leak test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr

from services.info_share.adapters.register.database import make_engine, migrate, session_factory
from services.info_share.auth import issue_token
from services.info_share.service import Register
from services.info_share.settings import InfoShareApiSettings
from services.info_share.wiring import create_app
from services.reference.loader import load_reference_data
from tests.info_share_fixtures import (
    AGENCY,
    FAR_POINT,
    FAR_TOWNSHIP,
    MOBILE,
    NAME,
    OTHER_TEAM,
    POINT,
    RESIDENT_ID,
    T0,
    TEAM,
    TOWNSHIP,
    UNRELATED_TOWNSHIP,
    Story,
    aware_utc,
    leaks,
    module_register_url,  # noqa: F401 - fixture
    orphan_rejection,
)

pytestmark = pytest.mark.integration
SECRET = SecretStr("integration-test-secret-0123456789abcdef")
FAR_TEAM = "team:210624:natural_resources"
UNRELATED_TEAM = "team:210603:water"


@dataclass
class Api:
    client: TestClient
    settings: InfoShareApiSettings
    register: Register
    stories: dict[str, Story]
    events: int

    def token(self, role: str, body_id: str | None = None, townships: list[str] | None = None) -> dict[str, str]:
        token = issue_token(self.settings, f"test-{role}", role=role, body_id=body_id, township_codes=townships)
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        answer = self.client.get(path, params=params, headers=headers or {})
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()


def stories() -> dict[str, Story]:
    return {
        "closed": Story(1),  # the whole lifecycle, in 花园街道, ends closed with OTHER_TEAM
        "far": Story(2, township=FAR_TOWNSHIP, lead=FAR_TEAM, at=T0 + timedelta(days=1), point=FAR_POINT),
        "agency": Story(3, lead=AGENCY, at=T0 + timedelta(days=3)),  # open, near POINT, with the police station
    }


@pytest.fixture(scope="module")
def api(module_register_url: str) -> Iterator[Api]:  # noqa: F811
    """One register per backend for the whole module: these tests only read."""
    register_url = module_register_url
    engine = make_engine(register_url)
    migrate(engine)
    register = Register(session_factory(engine), load_reference_data())
    told = stories()
    events = [*told["closed"].lifecycle(), told["far"].opened(), told["far"].issued(),
              told["agency"].opened(), told["agency"].issued(), orphan_rejection(1)]
    for event in events:
        register.apply(event)  # type: ignore[arg-type]
    settings = InfoShareApiSettings(jwt_secret=SECRET, database_url=register_url)
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings, register, told, len(events) - 1)
    engine.dispose()


def test_feed_pages_follow_the_cursor_without_gaps_or_repeats(api: Api) -> None:
    seen, cursor = [], 0
    while True:
        answer = api.client.get("/v1/feed", params={"after": cursor, "limit": 4})
        page = answer.json()
        assert answer.headers["X-Next-Cursor"] == str(page[-1]["sequence"] if page else cursor)
        if not page:
            break
        seen += [e["sequence"] for e in page]
        cursor = int(answer.headers["X-Next-Cursor"])
    assert seen == list(range(1, api.events + 1))
    assert 'rel="next"' in answer.headers["Link"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"township": FAR_TOWNSHIP}, ["case_opened", "referral_issued"]),
    ({"county": "210624"}, ["case_opened", "referral_issued"]),
    ({"department": "public_security"}, ["case_opened", "referral_issued"]),  # the police station's case
    ({"body": FAR_TEAM}, ["case_opened", "referral_issued"]),
    ({"status": "closed"}, ["case_transitioned"]),
    ({"category": "illegal_construction", "since": (T0 + timedelta(days=3)).isoformat()},
     ["case_opened", "referral_issued"]),
    ({"until": (T0 + timedelta(minutes=1)).isoformat()}, ["case_opened"]),  # exclusive
])
def test_feed_filters(api: Api, params: dict[str, str], expected: list[str]) -> None:
    assert [e["event"] for e in api.get("/v1/feed", **params)] == expected


def test_feed_detail_depends_on_the_audience(api: Api) -> None:
    opened = {"after": 0, "limit": 1}
    public = api.get("/v1/feed", **opened)[0]
    assert public["summary"].endswith("· open") and "违法搭建" not in public["summary"]
    party = api.get("/v1/feed", api.token("township_officer", townships=[TOWNSHIP]), **opened)[0]
    assert MOBILE in party["summary"] and RESIDENT_ID in party["summary"]
    other = api.get("/v1/feed", api.token("township_officer", townships=[UNRELATED_TOWNSHIP]), **opened)[0]
    assert "违法搭建" in other["summary"] and "138****5678" in other["summary"] and not leaks(other)
    assert {k: v for k, v in other.items() if k != "summary"} == {k: v for k, v in public.items() if k != "summary"}
    assert aware_utc(public["occurred_at"]) == api.stories["closed"].at


def test_case_detail_by_audience(api: Api) -> None:
    case_id = api.stories["closed"].case_id
    public = api.get(f"/v1/cases/{case_id}")
    assert public["audience"] == "public" and public["status"] == "closed" and public["report_count"] == 2
    assert "latitude" not in public and all("description" not in r for r in public["reports"])
    assert [r["body_id"] for r in public["referrals"]] == [TEAM, OTHER_TEAM]
    assert len(public["timeline"]) == 10 and "reason" not in public["timeline"][3]

    masked = api.get(f"/v1/cases/{case_id}", api.token("county_team", UNRELATED_TEAM))
    assert masked["audience"] == "official" and "latitude" in masked and not leaks(masked)
    assert masked["reports"][0]["description"].startswith("当事人张某在院内违法搭建，联系电话138****5678")
    assert masked["timeline"][3]["reason"] == "不属本部门职责，请联系张某（138****5678）核实"

    returned_it = api.get(f"/v1/cases/{case_id}", api.token("county_team", TEAM))  # referred once: still a party
    assert returned_it["audience"] == "full" and NAME in returned_it["reports"][0]["description"]
    assert returned_it["reports"][0]["photos"] == [] and returned_it["reports"][0]["reporter"].startswith("officer")
    assert api.client.get("/v1/cases/no-such-case").status_code == 404


def test_case_list_filters_cursor_and_mine(api: Api) -> None:
    everything = api.get("/v1/cases")
    assert [c["case_id"] for c in everything["cases"]] == [s.case_id for s in api.stories.values()]
    first = api.get("/v1/cases", limit=1)
    second = api.get("/v1/cases", limit=1, after=first["next_cursor"])
    assert second["cases"][0]["case_id"] == api.stories["far"].case_id
    assert [c["case_id"] for c in api.get("/v1/cases", status="closed")["cases"]] == [api.stories["closed"].case_id]
    assert [c["case_id"] for c in api.get("/v1/cases", department="ecology_environment")["cases"]] == \
        [api.stories["closed"].case_id]
    police = api.token("dispatched_agency", AGENCY)
    mine = api.get("/v1/cases", police, mine="true")["cases"]
    assert [c["case_id"] for c in mine] == [api.stories["agency"].case_id] and mine[0]["audience"] == "full"
    assert api.client.get("/v1/cases", params={"mine": "true"}).status_code == 401
    assert all("description" not in c for c in everything["cases"])


def test_open_cases_near_a_point(api: Api) -> None:
    officer = api.token("patrol_officer", townships=[UNRELATED_TOWNSHIP])
    near = api.get("/v1/cases/nearby", officer, latitude=POINT[0], longitude=POINT[1], radius_m=1000)["cases"]
    # The closed case is not listed; the open one is, masked for an officer of another township.
    assert [c["case_id"] for c in near] == [api.stories["agency"].case_id]
    assert near[0]["distance_m"] == pytest.approx(33.4, abs=0.5) and not leaks(near)
    assert api.get("/v1/cases/nearby", officer, latitude=POINT[0] + 0.05, longitude=POINT[1])["cases"] == []
    assert api.client.get("/v1/cases/nearby", params={"latitude": 40, "longitude": 124}).status_code == 401
    public = api.token("public")
    assert api.client.get("/v1/cases/nearby", params={"latitude": 40, "longitude": 124},
                          headers=public).status_code == 403
    assert api.client.get("/v1/cases/nearby", params={"latitude": 40, "longitude": 124, "radius_m": 50_000},
                          headers=officer).status_code == 422


def test_evaluation_figures_are_scoped_to_the_caller(api: Api) -> None:
    assert api.client.get("/v1/stats/evaluation").status_code == 401
    township = api.get("/v1/stats/evaluation", api.token("township_officer", townships=[TOWNSHIP]))
    bodies = {b["body_id"]: b for b in township["bodies"]}
    assert set(bodies) == {TEAM, OTHER_TEAM, AGENCY} and township["scope"] == "own_cases"
    assert (bodies[TEAM]["received"], bodies[TEAM]["returned"], bodies[TEAM]["on_time"]) == (1, 1, 1)
    other = bodies[OTHER_TEAM]
    assert (other["accepted"], other["closed"], other["on_time_rate"], other["duplicates_merged"]) == (1, 1, 1.0, 1)
    assert other["acceptance_seconds_mean"] == pytest.approx(21 * 3600 - 60)
    assert other["name"].endswith("执法队伍") and other["kind"] == "county_team"
    assert {t["township_code"] for t in township["townships"]} == {TOWNSHIP}

    agencies = api.get("/v1/stats/evaluation", api.token("township_officer", townships=[TOWNSHIP]),
                       kind="dispatched_agency")
    assert [b["body_id"] for b in agencies["bodies"]] == [AGENCY]
    far = api.get("/v1/stats/evaluation", api.token("county_team", FAR_TEAM))
    assert [b["body_id"] for b in far["bodies"]] == [FAR_TEAM]
    county = api.get("/v1/stats/evaluation", api.token("county_coordination", "coordination:210603"))
    assert county["scope"] == "county:210603" and FAR_TEAM not in {b["body_id"] for b in county["bodies"]}
    everyone = api.get("/v1/stats/evaluation", api.token("supervisor"))
    assert {b["body_id"] for b in everyone["bodies"]} == {TEAM, OTHER_TEAM, AGENCY, FAR_TEAM}


def test_public_summary(api: Api) -> None:
    summary = api.get("/v1/stats/summary")
    assert (summary["cases"], summary["reports"], summary["duplicates_merged"], summary["ledger_events"]) == \
        (3, 4, 1, api.events)


def every_answer(api: Api, headers: dict[str, str], official: bool) -> Iterator[tuple[str, Any]]:
    cursor = 0
    while page := api.get("/v1/feed", headers, after=cursor, limit=3):
        yield "/v1/feed", page
        cursor = page[-1]["sequence"]
    listed = api.get("/v1/cases", headers)
    yield "/v1/cases", listed
    for case in listed["cases"]:
        yield f"/v1/cases/{case['case_id']}", api.get(f"/v1/cases/{case['case_id']}", headers)
    yield "/v1/stats/summary", api.get("/v1/stats/summary", headers)
    if official:
        yield "/v1/cases/nearby", api.get("/v1/cases/nearby", headers, latitude=POINT[0], longitude=POINT[1],
                                          radius_m=5000)
        yield "/v1/stats/evaluation", api.get("/v1/stats/evaluation", headers)


UNENTITLED: dict[str, Callable[[Api], dict[str, str]]] = {
    "anonymous": lambda api: {},
    "public role": lambda api: api.token("public"),
    "officer of another township": lambda api: api.token("patrol_officer", townships=[UNRELATED_TOWNSHIP]),
    "another county team": lambda api: api.token("county_team", UNRELATED_TEAM),
    "a dispatched agency": lambda api: api.token("dispatched_agency", f"agency:{UNRELATED_TOWNSHIP}:police_station"),
    "supervisor": lambda api: api.token("supervisor"),
}


@pytest.mark.parametrize("who", list(UNENTITLED))
def test_leak_no_personal_data_reaches_an_unentitled_caller(api: Api, who: str) -> None:
    headers = UNENTITLED[who](api)
    official = who not in ("anonymous", "public role")
    answers = list(every_answer(api, headers, official))
    assert len(answers) >= 7
    found = [f"{path}: {leak}" for path, answer in answers for leak in leaks(answer)]
    assert found == []
    if official:  # the scan is not vacuous: the masked forms are there
        assert any("138****5678" in str(answer) for _path, answer in answers)


def test_the_leak_scanner_sees_what_a_party_is_shown(api: Api) -> None:
    headers = api.token("township_officer", townships=[TOWNSHIP])
    found = [leak for _path, answer in every_answer(api, headers, official=True) for leak in leaks(answer)]
    assert any(RESIDENT_ID in leak for leak in found) and any(MOBILE in leak for leak in found)


def test_masking_and_latency_are_measured(api: Api) -> None:
    def masked(kind: str) -> float:
        return REGISTRY.get_sample_value("liandong_info_share_masked_total",
                                         {"kind": kind, "audience": "official"}) or 0.0

    before = {kind: masked(kind) for kind in ("resident_id", "phone", "name")}
    api.get(f"/v1/cases/{api.stories['closed'].case_id}", api.token("county_team", UNRELATED_TEAM))
    assert all(masked(kind) > before[kind] for kind in before)
    latency = REGISTRY.get_sample_value("liandong_info_share_query_seconds_count",
                                        {"route": "/v1/cases/{case_id}", "status_class": "2xx"})
    assert latency and latency >= 1
