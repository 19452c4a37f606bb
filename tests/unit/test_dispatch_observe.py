"""Dispatch metrics follow what was published and what the tables hold."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from schemas.events import ReferralIssued
from services.common.deadlines import is_overdue
from services.dispatch.entrypoints import observe
from services.dispatch.service import CASE_FILES_TABLE, REFERRALS_TABLE, Dispatcher
from services.reference.geography import random_point_in_county
from tests.dispatch_fixtures import (
    COUNTY,
    RECEIVED,
    REFERENCE,
    TOWNSHIP,
    category_routed_by,
    decide,
    new_dispatcher,
    respond,
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_and_gauges_follow_events_and_tables() -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    lat, lon = random_point_in_county(COUNTY, random.Random(11))
    opened_before = sample("liandong_dispatch_cases_opened_total", county=COUNTY, township=TOWNSHIP,
                           routing_rule="county_department")
    out = decide(dispatcher, "obs-1", category, lat, lon)
    out += decide(dispatcher, "obs-2", category, lat + 0.0001, lon)
    for item in out:
        observe.record(item.model, dispatcher)
    body = out[1].model.body_id  # type: ignore[attr-defined]
    assert sample("liandong_dispatch_cases_opened_total", county=COUNTY, township=TOWNSHIP,
                  routing_rule="county_department") == opened_before + 1
    assert sample("liandong_dispatch_referrals_issued_total", county=COUNTY, team=body,
                  department=body.split(":")[2]) >= 1

    issued = out[1].model
    observe.refresh_gauges(dispatcher, issued.occurred_at)  # type: ignore[attr-defined]
    assert sample("liandong_dispatch_open_cases", county=COUNTY, township=TOWNSHIP) == 1
    assert sample("liandong_dispatch_referrals_open", county=COUNTY, team=body, state="issued") == 1
    assert sample("liandong_dispatch_referrals_overdue", county=COUNTY, team=body) == 0
    observe.refresh_gauges(dispatcher, issued.accept_by + timedelta(minutes=1))  # type: ignore[attr-defined]
    assert sample("liandong_dispatch_referrals_overdue", county=COUNTY, team=body) == 1


def recount(dispatcher: Dispatcher, now: datetime) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str]]:
    """The oracle: what the gauges counted by scanning every table before they were kept as tallies."""
    referrals: Counter[tuple[str, str]] = Counter()
    overdue: Counter[str] = Counter()
    for stored in dispatcher.tables[REFERRALS_TABLE].values():
        if stored["state"] not in ("closed", "returned"):
            referrals[(stored["body_id"], stored["state"])] += 1
        if stored["state"] == "issued" and is_overdue(datetime.fromisoformat(stored["accept_by"]), now):
            overdue[stored["body_id"]] += 1
    townships: Counter[str] = Counter()
    for case_id in dispatcher.index.open_case_ids():
        townships[dispatcher.tables[CASE_FILES_TABLE][case_id]["finding"]["township_code"]] += 1
    return referrals, overdue, townships


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["finding", "accept", "return", "extend", "check", "start"]),
                                st.integers(0, 5), st.integers(0, 96)), min_size=1, max_size=40))
def test_the_tallies_the_gauges_read_equal_a_recount_of_the_tables(steps: list[tuple[str, int, int]]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    spots = [random_point_in_county(COUNTY, random.Random(200 + n)) for n in range(6)]
    issued: dict[int, ReferralIssued] = {}
    now = RECEIVED
    for number, (what, which, hours) in enumerate(steps):
        now = max(now, RECEIVED + timedelta(hours=hours))
        if what == "finding":
            for item in decide(dispatcher, f"p{number}", category, *spots[which], received=now):
                if isinstance(item.model, ReferralIssued):
                    issued[which] = item.model
        elif what == "check":
            for _key, check in dispatcher.due_checks(now):
                dispatcher.on_deadline_check(check)
        elif which in issued:
            action = {"start": "start_handling"}.get(what, what)
            details = {"reason_code": "not_our_duty"} if what == "return" else {}
            for item in dispatcher.on_response(respond(issued[which], action, f"r{number}", at=now, **details)):
                if isinstance(item.model, ReferralIssued):
                    issued[which] = item.model  # a return re-routes: the next referral of the case
        referrals, overdue, townships = recount(dispatcher, now)
        assert +dispatcher.open_referrals == referrals
        assert dispatcher.overdue_per_body(now) == overdue
        assert dispatcher.index.open_per_township() == dict(townships)
    restored = Dispatcher(REFERENCE, dispatcher.tables)
    restored.rebuild_index()
    assert (+restored.open_referrals, restored.overdue_per_body(now)) == (+dispatcher.open_referrals,
                                                                           dispatcher.overdue_per_body(now))
