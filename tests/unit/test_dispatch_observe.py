"""Dispatch metrics follow what was published and what the tables hold."""

from __future__ import annotations

import random
from datetime import timedelta

from prometheus_client import REGISTRY

from services.dispatch import observe
from services.dispatch.service import Dispatcher
from services.reference.geography import random_point_in_county
from tests.unit.test_dispatch_service import (
    COUNTY,
    REFERENCE,
    TOWNSHIP,
    category_routed_by,
    finding,
    group_of,
    tables,
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_and_gauges_follow_events_and_tables() -> None:
    category = category_routed_by("county_department")
    dispatcher = Dispatcher(REFERENCE, tables())
    lat, lon = random_point_in_county(COUNTY, random.Random(11))
    opened_before = sample("liandong_dispatch_cases_opened_total", county=COUNTY, township=TOWNSHIP,
                           routing_rule="county_department")
    out = dispatcher.on_finding(finding("obs-1", category, lat, lon), group_of(category))
    out += dispatcher.on_finding(finding("obs-2", category, lat + 0.0001, lon), group_of(category))
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
