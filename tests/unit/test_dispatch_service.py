"""The dispatch service layer over plain dict tables: replays, merges, routing, returns, closing, deadlines."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from schemas.events import (
    CaseOpened,
    CaseTransitioned,
    DeadlineCheck,
    FindingMerged,
    ReferralIssued,
    ReferralOverdue,
    RelatedCaseOpened,
    ResponseRejected,
    Subject,
)
from scripts.sample_day import valid_uscc
from services.dispatch.domain import dedup
from services.dispatch.domain.routing import route
from services.dispatch.service import OVERDUE_TABLE, REFERRALS_TABLE, Dispatcher
from services.reference.geography import random_point_in_county
from tests.dispatch_fixtures import (
    COUNTY,
    RECEIVED,
    REFERENCE,
    TOWNSHIP,
    category_routed_by,
    decide,
    finding,
    group_of,
    new_dispatcher,
    respond,
    tables,
)


@pytest.fixture
def spot() -> tuple[float, float]:
    return random_point_in_county(COUNTY, random.Random(3))


def test_new_finding_opens_case_and_refers_to_the_competent_team(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    out = decide(dispatcher, "f1", category, *spot)
    opened, issued = (o.model for o in out)
    assert isinstance(opened, CaseOpened) and isinstance(issued, ReferralIssued)
    assert issued.body_id == opened.lead_body_id and issued.body_id.startswith(f"team:{COUNTY}:")
    assert out[1].referral_body_id == issued.body_id
    assert issued.accept_by > issued.occurred_at and issued.routing.item_codes


def test_delegated_matter_is_referred_to_the_township_office_itself(spot: tuple[float, float]) -> None:
    # The township handles it under the delegated power, through the same lifecycle as any body (so it can close).
    category = category_routed_by("delegated_to_township")
    out = decide(new_dispatcher(), "f1", category, *spot)
    assert [type(o.model) for o in out] == [CaseOpened, ReferralIssued]
    assert out[0].model.lead_body_id == f"township:{TOWNSHIP}"  # type: ignore[attr-defined]
    assert out[1].referral_body_id == f"township:{TOWNSHIP}"


def test_a_finding_from_before_the_first_catalogue_goes_to_coordination_with_the_reason(
        spot: tuple[float, float]) -> None:
    # No power list was in force: no body is competent by it, so county coordination decides; the referral is not a
    # major matter's (no catalogue says so), and the explanation names the date.
    category = category_routed_by("county_department")
    early = REFERENCE.versions[0].published_at - timedelta(days=1)
    dispatcher = new_dispatcher()
    out = dispatcher.on_finding(finding("f-early", category, *spot, received=early), group_of(category))
    opened, issued = (o.model for o in out)
    assert isinstance(opened, CaseOpened) and isinstance(issued, ReferralIssued)
    assert issued.body_id == f"coordination:{COUNTY}" and issued.routing.rule == "no_competent_body"
    assert "尚无生效的权责清单" in issued.routing.detail
    assert dispatcher.tables["case_files"][opened.case_id]["major"] is False


def test_replay_emits_identical_events_and_changes_no_state(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    state = tables()
    dispatcher = Dispatcher(REFERENCE, state)
    first = decide(dispatcher, "f1", category, *spot)
    lat, lon = spot
    merged = decide(dispatcher, "f2", category, lat + 0.0002, lon)
    snapshot = {name: dict(table) for name, table in state.items()}
    # A restarted worker rebuilds its index from the tables and sees both findings again.
    restarted = Dispatcher(REFERENCE, state)
    restarted.rebuild_index()
    again_first = decide(restarted, "f1", category, *spot)
    again_merged = decide(restarted, "f2", category, lat + 0.0002, lon)
    assert [(o.event_id, o.model) for o in again_first] == [(o.event_id, o.model) for o in first]
    assert [(o.event_id, o.model) for o in again_merged] == [(o.event_id, o.model) for o in merged]
    assert all(o.replay for o in again_first + again_merged) and not any(o.replay for o in first + merged)
    assert {name: dict(table) for name, table in state.items()} == snapshot


def test_repeat_report_nearby_merges_and_names_the_rule(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    opened = decide(dispatcher, "f1", category, *spot)[0].model
    lat, lon = spot
    out = decide(dispatcher, "f2", category, lat + 0.0002, lon)  # ~22 m north
    assert len(out) == 1 and isinstance(out[0].model, FindingMerged)
    assert out[0].model.case_id == opened.case_id  # type: ignore[attr-defined]
    assert out[0].model.rule == dedup.RULE_WITHIN_RADIUS and 15 < out[0].model.distance_m < 30


def test_same_spot_different_companies_stay_apart(spot: tuple[float, float]) -> None:
    category = next(c for c in sorted(REFERENCE.categories_for_township(TOWNSHIP, RECEIVED))
                    if "uscc" in REFERENCE.categories[c].subject_kinds)
    dispatcher = new_dispatcher()
    rng = random.Random(5)
    a = Subject(kind="uscc", value=valid_uscc(rng, COUNTY))
    b = Subject(kind="uscc", value=valid_uscc(rng, COUNTY))
    assert a != b
    first = decide(dispatcher, "f1", category, *spot, subjects=(a,))
    second = decide(dispatcher, "f2", category, *spot, subjects=(b,))
    assert isinstance(first[0].model, CaseOpened) and isinstance(second[0].model, CaseOpened)
    assert first[0].model.case_id != second[0].model.case_id


def test_full_lifecycle_closes_the_case_and_a_new_report_then_recurs(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    out = decide(dispatcher, "f1", category, *spot)
    issued = out[1].model
    assert isinstance(issued, ReferralIssued)
    township = f"township:{TOWNSHIP}"
    steps = [respond(issued, "accept", "r1"), respond(issued, "start_handling", "r2"),
             respond(issued, "feed_back", "r3", outcome="rectified"),
             respond(issued, "verify", "r4", body_id=township), respond(issued, "close", "r5", body_id=township)]
    states = []
    for step in steps:
        (event,) = (o.model for o in dispatcher.on_response(step))
        assert isinstance(event, CaseTransitioned), event
        states.append(event.to_state)
    assert states == ["accepted", "handling", "result_fed_back", "verified", "closed"]
    later = finding("f9", category, *spot, received=RECEIVED + timedelta(days=10))
    reopened = dispatcher.on_finding(later, group_of(category))[0].model
    assert isinstance(reopened, CaseOpened) and reopened.previous_case_id == issued.case_id


def test_illegal_responses_are_rejected_with_a_reason(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    other_team = f"team:{COUNTY}:health" if not issued.body_id.endswith("health") else f"team:{COUNTY}:water"
    (wrong_body,) = dispatcher.on_response(respond(issued, "accept", "x1", body_id=other_team))
    (too_early,) = dispatcher.on_response(respond(issued, "close", "x2", body_id=f"township:{TOWNSHIP}"))
    (unknown,) = dispatcher.on_response(respond(issued, "accept", "x3").model_copy(update={"referral_id": "nope"}))
    for rejected in (wrong_body, too_early, unknown):
        assert isinstance(rejected.model, ResponseRejected) and rejected.model.reason
    assert "cannot accept" in wrong_body.model.reason  # type: ignore[attr-defined]
    assert "no result" in too_early.model.reason  # type: ignore[attr-defined]


def test_returns_reroute_then_escalate_to_coordination(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    bodies = []
    for attempt in range(1, 6):
        assert isinstance(issued, ReferralIssued) and issued.attempt == attempt
        bodies.append(issued.body_id)
        if issued.body_id.startswith("coordination:"):
            break
        out = dispatcher.on_response(respond(issued, "return", f"ret-{attempt}", reason="不屬本部門職責"))
        assert isinstance(out[0].model, CaseTransitioned) and out[0].model.to_state == "returned"
        issued = out[1].model
    assert bodies[-1] == f"coordination:{COUNTY}", bodies
    assert len(set(bodies)) == len(bodies)  # never sent back to a body that returned it
    assert len(bodies) <= 4  # MAX_ATTEMPTS returns, then coordination: it cannot bounce forever


def test_overdue_referral_warns_once_and_escalates(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    assert dispatcher.due_checks(issued.accept_by) == []  # the deadline second itself is on time
    late = issued.accept_by + timedelta(minutes=1)
    ((key, check),) = dispatcher.due_checks(late)
    assert key == issued.dedup_group and isinstance(check, DeadlineCheck)
    (warning,) = dispatcher.on_deadline_check(check)
    assert isinstance(warning.model, ReferralOverdue)
    assert warning.model.escalated_to == f"coordination:{COUNTY}"
    assert warning.referral_body_id == f"coordination:{COUNTY}"
    assert dispatcher.due_checks(late + timedelta(hours=1)) == []  # warned once per deadline
    assert dispatcher.on_deadline_check(check) == [warning]  # a redelivered check emits the same event


def test_an_extended_referral_is_watched_for_its_new_deadline(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    (extended,) = dispatcher.on_response(respond(issued, "extend", "x1", at=issued.accept_by - timedelta(hours=1)))
    assert isinstance(extended.model, CaseTransitioned) and extended.model.accept_by is not None
    new_deadline = extended.model.accept_by
    assert new_deadline > issued.accept_by
    assert dispatcher.due_checks(issued.accept_by + timedelta(minutes=1)) == []  # the old deadline is not watched
    assert dispatcher.due_checks(new_deadline) == []
    ((_key, check),) = dispatcher.due_checks(new_deadline + timedelta(minutes=1))
    (warning,) = dispatcher.on_deadline_check(check)
    assert isinstance(warning.model, ReferralOverdue) and warning.model.deadline == new_deadline
    assert dispatcher.due_checks(new_deadline + timedelta(hours=1)) == [] and len(dispatcher.due) == 0


def test_the_deadline_index_is_rebuilt_from_the_tables_as_a_restored_worker_has_them() -> None:
    category = category_routed_by("county_department")
    stored = tables()
    first = Dispatcher(REFERENCE, stored)
    spots = [random_point_in_county(COUNTY, random.Random(100 + n)) for n in range(3)]  # far apart: three cases
    issued = [decide(first, f"f{n}", category, *spots[n])[1].model
              for n in range(3)]
    assert all(isinstance(i, ReferralIssued) for i in issued)
    late = max(i.accept_by for i in issued) + timedelta(minutes=1)  # type: ignore[union-attr]
    ((_key, check), *_rest) = first.due_checks(late)
    first.on_deadline_check(check)
    restarted = Dispatcher(REFERENCE, stored)
    assert restarted.due_checks(late) == []  # nothing watched before the index is rebuilt from the tables
    restarted.rebuild_index()
    assert [c.referral_id for _k, c in restarted.due_checks(late)] == [
        c.referral_id for _k, c in first.due_checks(late)]
    assert len(restarted.due) == len(first.due) == 2


def test_answer_before_the_check_is_processed_wins(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    ((_key, check),) = dispatcher.due_checks(issued.accept_by + timedelta(minutes=1))
    dispatcher.on_response(respond(issued, "accept", "a1", at=issued.accept_by + timedelta(seconds=30)))
    assert dispatcher.on_deadline_check(check) == []


def test_unknown_reference_is_named(spot: tuple[float, float]) -> None:
    dispatcher = new_dispatcher()
    category = category_routed_by("county_department")
    bad = finding("f1", category, *spot).model_copy(update={"township_code": "999999999"})
    assert dispatcher.unknown_reference(bad) == "unknown township '999999999'"
    assert dispatcher.unknown_reference(finding("f1", category, *spot)) is None


def test_a_finding_from_before_the_first_catalogue_is_refused_not_raised(spot: tuple[float, float]) -> None:
    dispatcher = new_dispatcher()
    category = category_routed_by("county_department")
    first = REFERENCE.versions[0].published_at
    old = finding("f1", category, *spot).model_copy(update={"received_at": first - timedelta(days=1)})
    reason = dispatcher.unknown_reference(old)
    assert reason is not None and reason.startswith("no power catalogue in force at")
    on_time = finding("f2", category, *spot).model_copy(update={"received_at": first})
    assert dispatcher.unknown_reference(on_time) is None


def test_extension_carries_the_new_deadline(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    (extended,) = (o.model for o in dispatcher.on_response(respond(issued, "extend", "e1", reason="需現場核實")))
    assert isinstance(extended, CaseTransitioned) and extended.accept_by is not None
    assert extended.accept_by > issued.accept_by  # 5 working days instead of 3


def test_a_deadline_check_dated_ahead_of_dispatch_is_refused_as_forged(spot: tuple[float, float]) -> None:
    from services.dispatch.service import ForgedCommand
    category = category_routed_by("county_department")
    now = RECEIVED + timedelta(days=1)
    dispatcher = new_dispatcher(clock=lambda: now)
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    forged = DeadlineCheck(referral_id=issued.referral_id, case_id=issued.case_id,
                           checked_at=issued.accept_by + timedelta(days=1))
    with pytest.raises(ForgedCommand):
        dispatcher.on_deadline_check(forged)
    assert dispatcher.tables[OVERDUE_TABLE] == {}


def test_refusals_name_their_kind_and_the_state(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    now = RECEIVED + timedelta(days=1)
    dispatcher = new_dispatcher(clock=lambda: now)
    issued = decide(dispatcher, "f1", category, *spot)[1].model
    assert isinstance(issued, ReferralIssued)
    (other,) = dispatcher.on_response(respond(issued, "accept", "x1", body_id=f"team:{COUNTY}:someone_else"))
    (future,) = dispatcher.on_response(respond(issued, "accept", "x2", at=now + timedelta(hours=1)))
    (backdated,) = dispatcher.on_response(respond(issued, "accept", "x3", at=issued.occurred_at - timedelta(hours=1)))
    (early,) = dispatcher.on_response(respond(issued, "close", "x4", body_id=f"township:{TOWNSHIP}"))
    codes = [(o.model.code, o.model.state) for o in (other, future, backdated, early)]  # type: ignore[union-attr]
    assert codes == [("forbidden", "issued"), ("invalid", "issued"), ("invalid", "issued"), ("conflict", "issued")]
    assert all(isinstance(o.model, ResponseRejected) for o in (other, future, backdated, early))
    assert dispatcher.tables[REFERRALS_TABLE][issued.referral_id]["state"] == "issued"


def test_coordination_decision_issues_a_designated_referral(spot: tuple[float, float]) -> None:
    category = category_routed_by("county_department")
    dispatcher = new_dispatcher()
    referral = decide(dispatcher, "f1", category, *spot)[1].model
    hour = 1
    while isinstance(referral, ReferralIssued) and not referral.body_id.startswith("coordination:"):
        out = dispatcher.on_response(respond(referral, "return", f"r{hour}", reason_code="not_our_duty",
                                             at=referral.occurred_at + timedelta(hours=1)))
        referral = out[-1].model
        hour += 1
    assert isinstance(referral, ReferralIssued) and referral.body_id == f"coordination:{COUNTY}"
    designated = f"team:{COUNTY}:natural_resources"
    foreign = dispatcher.on_response(respond(referral, "decide", "d0", designated_body_id="team:210603:transport"))
    assert isinstance(foreign[0].model, ResponseRejected) and foreign[0].model.code == "invalid"
    decided, issued = dispatcher.on_response(respond(referral, "decide", "d1", designated_body_id=designated))
    assert isinstance(decided.model, CaseTransitioned) and decided.model.to_state == "decided"
    assert isinstance(issued.model, ReferralIssued) and issued.model.body_id == designated and issued.model.designated
    (refused,) = dispatcher.on_response(respond(issued.model, "return", "d2", reason_code="not_our_duty"))
    assert isinstance(refused.model, ResponseRejected) and refused.model.code == "conflict"


def test_another_matter_at_the_spot_gets_its_own_referral_naming_the_first_case(spot: tuple[float, float]) -> None:
    lift, fire = "special_equipment_hazard", "fire_hazard"
    assert route(REFERENCE, TOWNSHIP, lift, RECEIVED).lead_body_id != route(REFERENCE, TOWNSHIP, fire,
                                                                           RECEIVED).lead_body_id
    store = tables()
    dispatcher = Dispatcher(REFERENCE, store)
    first = dispatcher.on_finding(finding("lift", lift, *spot), "safety")
    out = dispatcher.on_finding(finding("fire", fire, *spot, received=RECEIVED + timedelta(minutes=5)), "safety")
    opened, issued, told = (o.model for o in out)
    assert isinstance(opened, CaseOpened) and isinstance(issued, ReferralIssued)
    assert out[1].referral_body_id == route(REFERENCE, TOWNSHIP, fire, RECEIVED).lead_body_id
    # The lift's body is told on its own topic (not on case-events) that the fire hazard is another body's case.
    assert isinstance(told, RelatedCaseOpened) and told.case_id == first[0].model.case_id
    assert (told.related.case_id, told.related.lead_body_id) == (opened.case_id, opened.lead_body_id)
    assert out[2].referral_body_id == first[1].model.body_id and not out[2].case_events
    named = [(r.case_id, r.category_code, r.lead_body_id) for r in issued.related_cases]
    assert named == [(first[0].model.case_id, lift, first[0].model.lead_body_id)] == \
        [(r.case_id, r.category_code, r.lead_body_id) for r in opened.related_cases]
    # A replay after the first case closed re-emits the very same events: the links are kept with the case file.
    dispatcher.index.close(first[0].model.case_id, RECEIVED + timedelta(hours=1))
    replayed = Dispatcher(REFERENCE, store)
    replayed.rebuild_index()
    again = replayed.on_finding(finding("fire", fire, *spot, received=RECEIVED + timedelta(minutes=5)), "safety")
    assert [o.model for o in again] == [o.model for o in out] and all(o.replay for o in again)
