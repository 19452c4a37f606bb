"""The referral state machine: legal paths, refusals with reasons, extension, re-routing and escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from schemas.events import ReferralAction, ReferralOutcome
from services.common.deadlines import CHINA_TZ, DeadlinePolicy
from services.common.identifiers import referral_id_for
from services.common.lifecycle import (
    MAX_ATTEMPTS,
    Action,
    EscalateToCoordination,
    IllegalTransition,
    IssueDesignated,
    Outcome,
    Referral,
    Refusal,
    Reroute,
    ReturnReason,
    State,
    next_step_after_decision,
    next_step_after_return,
)

BODY = "team:210604:natural_resources"
OTHER = "team:210604:ecology_environment"
TOWNSHIP = "township:210604100"
ISSUED = datetime(2025, 9, 30, 16, 30, tzinfo=CHINA_TZ)  # before National Day 2025


def referral(body: str = BODY, attempt: int = 1, major: bool = False) -> Referral:
    return Referral.issue(case_id="case-1", body_id=body, township_body_id=TOWNSHIP, attempt=attempt,
                          issued_at=ISSUED, major=major)


def at(hours: float) -> datetime:
    return ISSUED + timedelta(hours=hours)


def test_issue_sets_id_and_acceptance_deadline() -> None:
    r = referral()
    assert r.referral_id == referral_id_for("case-1", 1)
    assert r.state is State.ISSUED
    assert r.accept_by == DeadlinePolicy().accept_by(ISSUED, major=False)
    assert referral(major=True).accept_by == ISSUED + timedelta(hours=24)


def test_full_lifecycle_to_closed() -> None:
    r = referral()
    steps = [
        (Action.ACCEPT, BODY, None),
        (Action.START_HANDLING, BODY, None),
        (Action.FEED_BACK, BODY, Outcome.PENALTY_DECIDED),
        (Action.VERIFY, TOWNSHIP, None),
        (Action.CLOSE, TOWNSHIP, None),
    ]
    for hour, (action, actor, outcome) in enumerate(steps, start=1):
        r.handle(action, actor, at=at(hour), outcome=outcome)
    assert r.state is State.CLOSED
    assert [t.to_state for t in r.history] == [
        State.ACCEPTED, State.HANDLING, State.RESULT_FED_BACK, State.VERIFIED, State.CLOSED,
    ]
    assert r.history[2].outcome is Outcome.PENALTY_DECIDED


def test_return_with_reason() -> None:
    r = referral()
    reason = "not a land matter: it is a river bank"
    t = r.handle("return", BODY, at=at(1), reason=reason)
    assert (t.from_state, t.to_state, t.reason) == (State.ISSUED, State.RETURNED, reason)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_return_without_reason_is_refused(reason: str | None) -> None:
    r = referral()
    with pytest.raises(IllegalTransition, match="reason"):
        r.handle(Action.RETURN, BODY, at=at(1), reason=reason)
    assert r.state is State.ISSUED and r.history == []


def test_accept_after_return_is_refused() -> None:
    r = referral()
    r.handle(Action.RETURN, BODY, at=at(1), reason="not ours")
    with pytest.raises(IllegalTransition, match="returned"):
        r.handle(Action.ACCEPT, BODY, at=at(2))


def test_return_after_accept_is_refused() -> None:
    r = referral()
    r.handle(Action.ACCEPT, BODY, at=at(1))
    with pytest.raises(IllegalTransition, match="not yet accepted"):
        r.handle(Action.RETURN, BODY, at=at(2), reason="changed our mind")


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_close_before_a_result_is_refused(steps: int) -> None:
    r = referral()
    for action in [Action.ACCEPT, Action.START_HANDLING][:steps]:
        r.handle(action, BODY, at=at(1))
    with pytest.raises(IllegalTransition, match="no result has been fed back"):
        r.handle(Action.CLOSE, TOWNSHIP, at=at(3))


def test_close_before_verification_is_refused() -> None:
    r = referral()
    r.handle(Action.ACCEPT, BODY, at=at(1))
    r.handle(Action.START_HANDLING, BODY, at=at(2))
    r.handle(Action.FEED_BACK, BODY, at=at(3), outcome="rectified")
    with pytest.raises(IllegalTransition, match="not verified"):
        r.handle(Action.CLOSE, TOWNSHIP, at=at(4))


def test_feed_back_without_outcome_is_refused() -> None:
    r = referral()
    r.handle(Action.ACCEPT, BODY, at=at(1))
    r.handle(Action.START_HANDLING, BODY, at=at(2))
    with pytest.raises(IllegalTransition, match="needs an outcome"):
        r.handle(Action.FEED_BACK, BODY, at=at(3))
    assert r.state is State.HANDLING


def test_outcome_on_another_action_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="outcome belongs to feed_back"):
        referral().handle(Action.ACCEPT, BODY, at=at(1), outcome=Outcome.RECTIFIED)


def test_another_body_cannot_respond() -> None:
    r = referral()
    for action in (Action.ACCEPT, Action.RETURN, Action.EXTEND):
        with pytest.raises(IllegalTransition, match=f"sent to {BODY}; {OTHER} cannot"):
            r.handle(action, OTHER, at=at(1), reason="x")
    # Nor can the township accept on the body's behalf.
    with pytest.raises(IllegalTransition, match="cannot accept"):
        r.handle(Action.ACCEPT, TOWNSHIP, at=at(1))


def test_only_the_reporting_township_verifies_and_closes() -> None:
    r = referral()
    r.handle(Action.ACCEPT, BODY, at=at(1))
    r.handle(Action.START_HANDLING, BODY, at=at(2))
    r.handle(Action.FEED_BACK, BODY, at=at(3), outcome=Outcome.NO_VIOLATION)
    for actor in (BODY, "township:210604101"):
        with pytest.raises(IllegalTransition, match=f"reporting township office {TOWNSHIP}"):
            r.handle(Action.VERIFY, actor, at=at(4))
    r.handle(Action.VERIFY, TOWNSHIP, at=at(4))
    with pytest.raises(IllegalTransition, match="reporting township office"):
        r.handle(Action.CLOSE, BODY, at=at(5))
    r.handle(Action.CLOSE, TOWNSHIP, at=at(5))
    assert r.state is State.CLOSED


def test_township_handling_its_own_matter_acts_as_both() -> None:
    r = Referral.issue(case_id="c", body_id=TOWNSHIP, township_body_id=TOWNSHIP, attempt=1, issued_at=ISSUED)
    for action in Action.ACCEPT, Action.START_HANDLING, Action.FEED_BACK, Action.VERIFY, Action.CLOSE:
        r.handle(action, TOWNSHIP, at=at(1), outcome=Outcome.RECTIFIED if action is Action.FEED_BACK else None)
    assert r.state is State.CLOSED


def test_extension_once_to_five_working_days() -> None:
    r = referral()
    assert r.accept_by == datetime(2025, 10, 11, 23, 59, 59, tzinfo=CHINA_TZ)
    t = r.handle(Action.EXTEND, BODY, at=at(2), reason="site survey needed")
    assert r.extended and r.state is State.ISSUED
    assert r.accept_by == t.accept_by == datetime(2025, 10, 14, 23, 59, 59, tzinfo=CHINA_TZ)
    with pytest.raises(IllegalTransition, match="already extended once"):
        r.handle(Action.EXTEND, BODY, at=at(3))
    r.handle(Action.ACCEPT, BODY, at=at(4))
    assert r.state is State.ACCEPTED


def test_extension_refused_for_major_matters_and_after_the_deadline() -> None:
    with pytest.raises(IllegalTransition, match="24-hour"):
        referral(major=True).handle(Action.EXTEND, BODY, at=at(1))
    late = datetime(2025, 10, 12, 9, 0, tzinfo=CHINA_TZ)
    with pytest.raises(IllegalTransition, match="has passed"):
        referral().handle(Action.EXTEND, BODY, at=late)


def test_repeated_response_id_is_idempotent() -> None:
    r = referral()
    first = r.handle(Action.ACCEPT, BODY, at=at(1), response_id="resp-1")
    again = r.handle(Action.ACCEPT, BODY, at=at(9), response_id="resp-1")
    assert again == first and len(r.history) == 1
    with pytest.raises(IllegalTransition, match="already used"):
        r.handle(Action.START_HANDLING, BODY, at=at(2), response_id="resp-1")
    # Without the same id, a second accept is a real error.
    with pytest.raises(IllegalTransition, match="allowed only from issued"):
        r.handle(Action.ACCEPT, BODY, at=at(2), response_id="resp-2")


def test_unknown_action_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        referral().handle("approve", BODY, at=at(1))


def test_round_trip_through_dict() -> None:
    r = referral()
    r.handle(Action.EXTEND, BODY, at=at(1), response_id="e")
    r.handle(Action.ACCEPT, BODY, at=at(2))
    r.handle(Action.START_HANDLING, BODY, at=at(3))
    r.handle(Action.FEED_BACK, BODY, at=at(4), outcome=Outcome.TRANSFERRED_TO_JUDICIARY)
    restored = Referral.from_dict(r.to_dict())
    assert restored == r
    restored.handle(Action.VERIFY, TOWNSHIP, at=at(5))
    assert restored.state is State.VERIFIED


def returned(body: str, attempt: int) -> Referral:
    r = referral(body=body, attempt=attempt)
    r.handle(Action.RETURN, body, at=at(1), reason="not ours")
    return r


def test_return_reroutes_excluding_every_body_that_returned() -> None:
    first = returned(BODY, 1)
    assert next_step_after_return([first]) == Reroute(2, frozenset({BODY}))
    second = returned(OTHER, 2)
    assert next_step_after_return([first, second]) == Reroute(3, frozenset({BODY, OTHER}))


def test_after_max_attempts_the_case_goes_to_county_coordination() -> None:
    bodies = [f"team:210604:dept{i}" for i in range(1, MAX_ATTEMPTS + 1)]
    history = [returned(body, attempt) for attempt, body in enumerate(bodies, start=1)]
    step = next_step_after_return(history)
    assert isinstance(step, EscalateToCoordination)
    assert step.attempt == MAX_ATTEMPTS + 1 and step.exclude_body_ids == frozenset(bodies)


def test_county_coordination_cannot_return_and_has_the_dispute_deadline() -> None:
    r = referral(body="coordination:210604", attempt=MAX_ATTEMPTS + 1)
    assert r.accept_by == DeadlinePolicy().dispute_decide_by(ISSUED)
    for action in (Action.RETURN, Action.EXTEND, Action.ACCEPT):
        with pytest.raises(IllegalTransition, match=f"cannot {action.value} it") as refused:
            r.handle(action, "coordination:210604", at=at(1), reason="not ours either")
        assert refused.value.kind is Refusal.CONFLICT
    assert r.state is State.ISSUED and not r.history


def test_next_step_needs_a_returned_latest_referral() -> None:
    r = referral()
    r.handle(Action.ACCEPT, BODY, at=at(1))
    with pytest.raises(ValueError, match="not returned"):
        next_step_after_return([r])
    with pytest.raises(ValueError):
        next_step_after_return([])


def test_domain_enums_match_the_wire_contract() -> None:
    assert {a.value for a in Action} == {a.value for a in ReferralAction}
    assert {o.value for o in Outcome} == {o.value for o in ReferralOutcome}


def fed_back(r: Referral) -> Referral:
    r.handle(Action.ACCEPT, BODY, at=at(1))
    r.handle(Action.START_HANDLING, BODY, at=at(2))
    r.handle(Action.FEED_BACK, BODY, at=at(3), outcome=Outcome.RECTIFIED)
    return r


def test_township_sends_a_result_back_for_rework_with_a_deadline_then_closes() -> None:
    r = fed_back(referral())
    with pytest.raises(IllegalTransition, match="what is to be redone") as refused:
        r.handle(Action.REWORK, TOWNSHIP, at=at(4))
    assert refused.value.kind is Refusal.INVALID
    with pytest.raises(IllegalTransition, match="reporting township") as refused:
        r.handle(Action.REWORK, BODY, at=at(4), reason="photos missing")
    assert refused.value.kind is Refusal.FORBIDDEN
    rework = r.handle(Action.REWORK, TOWNSHIP, at=at(4), reason="photos missing")
    assert rework.to_state is State.HANDLING and r.reworks == 1
    assert rework.due_by == DeadlinePolicy().rework_due_by(at(4)) == r.feedback_by
    r.handle(Action.FEED_BACK, BODY, at=at(5), outcome=Outcome.RECTIFIED)
    r.handle(Action.VERIFY, TOWNSHIP, at=at(6))
    r.handle(Action.CLOSE, TOWNSHIP, at=at(7))
    assert r.state is State.CLOSED
    assert Referral.from_dict(r.to_dict()) == r


def test_rework_deadline_given_by_the_township_is_bounded() -> None:
    r = fed_back(referral())
    for due_by in (at(3), at(4 + 24 * 91)):
        with pytest.raises(IllegalTransition, match="due_by"):
            r.handle(Action.REWORK, TOWNSHIP, at=at(4), reason="redo", due_by=due_by)
    assert r.handle(Action.REWORK, TOWNSHIP, at=at(4), reason="redo", due_by=at(48)).due_by == at(48)


def test_coordination_decides_a_dispute_by_naming_the_body() -> None:
    dispute = referral(body="coordination:210604", attempt=MAX_ATTEMPTS + 1)
    with pytest.raises(IllegalTransition, match="sent to coordination") as refused:
        dispute.handle(Action.DECIDE, "coordination:210603", at=at(1), designated_body_id=BODY)
    assert refused.value.kind is Refusal.FORBIDDEN
    with pytest.raises(IllegalTransition, match="name the competent body"):
        dispute.handle(Action.DECIDE, "coordination:210604", at=at(1))
    decided = dispute.handle(Action.DECIDE, "coordination:210604", at=at(1), designated_body_id=BODY,
                             reason="the land is collectively owned")
    assert decided.to_state is State.DECIDED
    assert next_step_after_decision(dispute) == IssueDesignated(MAX_ATTEMPTS + 2, BODY)
    with pytest.raises(IllegalTransition, match="only a dispute referral"):
        referral().handle(Action.DECIDE, BODY, at=at(1), designated_body_id=OTHER)


def test_a_designated_body_cannot_return_the_referral() -> None:
    designated = Referral.issue(case_id="case-1", body_id=BODY, township_body_id=TOWNSHIP, attempt=5,
                                issued_at=ISSUED, designated=True)
    with pytest.raises(IllegalTransition, match="指定管辖") as refused:
        designated.handle(Action.RETURN, BODY, at=at(1), reason_code=ReturnReason.NOT_OUR_DUTY)
    assert refused.value.kind is Refusal.CONFLICT
    assert designated.handle(Action.ACCEPT, BODY, at=at(1)).to_state is State.ACCEPTED


def test_a_return_needs_a_reason_code_or_a_text() -> None:
    with pytest.raises(IllegalTransition, match="reason_code") as refused:
        referral().handle(Action.RETURN, BODY, at=at(1), reason_code=ReturnReason.OTHER)
    assert refused.value.kind is Refusal.INVALID
    coded = referral().handle(Action.RETURN, BODY, at=at(1), reason_code=ReturnReason.WRONG_PLACE)
    assert coded.reason_code is ReturnReason.WRONG_PLACE and coded.to_state is State.RETURNED


def test_backdated_and_future_stated_times_are_refused() -> None:
    r = referral()
    with pytest.raises(IllegalTransition, match="predates the referral") as refused:
        r.handle(Action.ACCEPT, BODY, at=ISSUED - timedelta(seconds=1))
    assert refused.value.kind is Refusal.INVALID
    with pytest.raises(IllegalTransition, match="before the referral was issued"):
        r.handle(Action.ACCEPT, BODY, at=at(1), stated_at=ISSUED - timedelta(hours=1))
    with pytest.raises(IllegalTransition, match="after the action was received"):
        r.handle(Action.ACCEPT, BODY, at=at(1), stated_at=at(2))
    assert r.state is State.ISSUED and not r.history
    accepted = r.handle(Action.ACCEPT, BODY, at=at(1), stated_at=at(0.5))
    assert accepted.stated_at == at(0.5)


def test_a_stated_time_in_whole_seconds_within_the_issue_second_is_accepted() -> None:
    issued = ISSUED + timedelta(microseconds=730_000)
    r = Referral.issue(case_id="case-1", body_id=BODY, township_body_id=TOWNSHIP, attempt=1, issued_at=issued)
    with pytest.raises(IllegalTransition, match="before the referral was issued"):
        r.handle(Action.ACCEPT, BODY, at=issued + timedelta(minutes=1), stated_at=ISSUED - timedelta(seconds=1))
    accepted = r.handle(Action.ACCEPT, BODY, at=issued + timedelta(minutes=1), stated_at=ISSUED)
    assert accepted.stated_at == ISSUED and r.state is State.ACCEPTED
