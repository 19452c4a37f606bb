"""Retention of dispatch's state: a closed case's files leave after their retention, the case itself after its
recurrence window; open cases are never touched; the state stays flat under a steady rate of cases."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from schemas.events import CaseOpened, ReferralIssued, ResponseRejected, StateSweep
from services.dispatch.domain import dedup
from services.dispatch.domain.retention import Retention
from services.dispatch.service import CASE_FILES_TABLE, OVERDUE_TABLE, REFERRALS_TABLE, Dispatcher, ForgedCommand
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
    tables,
)

RETENTION = Retention(closed_files=timedelta(days=30), recurrence_window=timedelta(days=60))


def closed_case(dispatcher: Dispatcher, finding_id: str, at: datetime, point: tuple[float, float]) -> ReferralIssued:
    """Open a case at ``at`` and walk it to closed within the hour."""
    category = category_routed_by("county_department")
    out = decide(dispatcher, finding_id, category, *point, received=at)
    issued = out[1].model
    assert isinstance(issued, ReferralIssued)
    township = f"township:{TOWNSHIP}"
    for n, (action, body, extra) in enumerate([("accept", None, {}), ("start_handling", None, {}),
                                                ("feed_back", None, {"outcome": "rectified"}),
                                                ("verify", township, {}), ("close", township, {})]):
        step = respond(issued, action, f"{finding_id}-r{n}", body_id=body, at=at + timedelta(minutes=n + 1), **extra)
        assert not isinstance(step_out := dispatcher.on_response(step)[0].model, ResponseRejected), step_out
    return issued


def sweep(dispatcher: Dispatcher, at: datetime, **kwargs: object) -> dict[str, int]:
    return dict(dispatcher.on_state_sweep(StateSweep(swept_at=at), **kwargs))  # type: ignore[arg-type]


def test_closed_files_go_after_their_retention_and_the_case_after_its_window() -> None:
    state = tables()
    dispatcher = Dispatcher(REFERENCE, state, retention=RETENTION, clock=lambda: RECEIVED + timedelta(days=400))
    point = random_point_in_county(COUNTY, random.Random(3))
    issued = closed_case(dispatcher, "f1", RECEIVED, point)
    category = category_routed_by("county_department")
    elsewhere = random_point_in_county(COUNTY, random.Random(99))
    still_open = decide(dispatcher, "open", category, *elsewhere)[1].model

    assert sweep(dispatcher, RECEIVED + timedelta(days=29)) == {}  # within both: nothing goes
    assert issued.case_id in state[CASE_FILES_TABLE] and issued.referral_id in state[REFERRALS_TABLE]

    assert sweep(dispatcher, RECEIVED + timedelta(days=31)) == {"case_files": 1}
    assert issued.case_id not in state[CASE_FILES_TABLE] and issued.referral_id not in state[REFERRALS_TABLE]
    # Still within the recurrence window: a repeat report at the place names the closed case.
    repeat = decide(dispatcher, "f2", category, *point, received=RECEIVED + timedelta(days=40))[0].model
    assert isinstance(repeat, CaseOpened) and repeat.previous_case_id == issued.case_id
    # An answer naming the dropped referral is refused as unknown, and the finding replayed re-emits nothing.
    late = dispatcher.on_response(respond(issued, "close", "late", at=RECEIVED + timedelta(days=41)))
    assert isinstance(late[0].model, ResponseRejected) and late[0].model.code == "not_found"
    assert decide(dispatcher, "f1", category, *point, received=RECEIVED) == []

    assert sweep(dispatcher, RECEIVED + timedelta(days=61)) == {"recurrence": 1}
    assert issued.case_id not in state[dedup.CASES_TABLE] and "f1" not in state[dedup.MEMBERS_TABLE]
    # The open cases (the repeat, the one elsewhere) and their referrals are untouched.
    assert {still_open.case_id, repeat.case_id} <= set(state[dedup.CASES_TABLE])
    assert still_open.referral_id in state[REFERRALS_TABLE]
    assert sweep(dispatcher, RECEIVED + timedelta(days=62)) == {}  # applied once


def test_a_sweep_touches_only_the_cases_of_its_partition() -> None:
    dispatcher = new_dispatcher(retention=RETENTION, clock=lambda: RECEIVED + timedelta(days=400))
    issued = closed_case(dispatcher, "f1", RECEIVED, random_point_in_county(COUNTY, random.Random(3)))
    assert sweep(dispatcher, RECEIVED + timedelta(days=90), in_partition=lambda _case_id: False) == {}
    assert issued.case_id in dispatcher.tables[CASE_FILES_TABLE]
    assert sweep(dispatcher, RECEIVED + timedelta(days=90), in_partition=lambda c: c == issued.case_id) == {
        "case_files": 1, "recurrence": 1}


def test_a_sweep_dated_ahead_of_dispatch_is_refused_as_forged() -> None:
    dispatcher = new_dispatcher(retention=RETENTION, clock=lambda: RECEIVED)
    closed_case(dispatcher, "f1", RECEIVED - timedelta(days=1), random_point_in_county(COUNTY, random.Random(3)))
    with pytest.raises(ForgedCommand):
        sweep(dispatcher, RECEIVED + timedelta(days=365))
    assert len(dispatcher.tables[CASE_FILES_TABLE]) == 1


def test_the_state_stays_flat_under_a_steady_rate_of_cases() -> None:
    # Each day 3 cases open and close, and a daily sweep runs: the state holds at most the window's worth of
    # closed cases, whatever the number of days.
    state = tables()
    dispatcher = Dispatcher(REFERENCE, state, retention=RETENTION, clock=lambda: RECEIVED + timedelta(days=1000))
    rng = random.Random(7)
    sizes = []
    for day in range(150):
        at = RECEIVED + timedelta(days=day)
        for n in range(3):
            closed_case(dispatcher, f"d{day}-{n}", at, random_point_in_county(COUNTY, rng))
        sweep(dispatcher, at + timedelta(hours=23))
        sizes.append({name: len(table) for name, table in state.items()})
    per_day = 3
    for size in sizes[70:]:  # past the recurrence window: flat
        assert size[dedup.CASES_TABLE] <= per_day * 61
        assert size[CASE_FILES_TABLE] <= per_day * 31 and size[REFERRALS_TABLE] <= per_day * 31
        assert size[OVERDUE_TABLE] == 0
    assert sizes[-1] == sizes[-30]
    assert len(dispatcher.index) == 0 and sum(dispatcher.open_referrals.values()) == 0
