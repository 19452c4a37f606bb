"""The referral (案件移送) state machine: issue, accept or return, handle, feed back, verify, close; rework and
disputes.

Who may act is part of the rule: the body a referral was sent to answers it; the township office that reported the
case verifies, closes or sends back for rework (核查結案, 驳回重办); county coordination decides a dispute by naming
the competent body (指定管辖). Each refusal says which kind it is (``IllegalTransition.kind``), so an HTTP adapter
can answer 403 (not yours), 409 (not now) or 422 (wrong details).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from schemas.events import ReferralAction, ReferralOutcome, ReturnReason
from services.common.deadlines import DeadlinePolicy, is_overdue
from services.common.identifiers import referral_id_for

# After this many returns the case stops bouncing between departments and goes to county coordination (司法局),
# which decides the jurisdiction dispute and cannot return it.
MAX_ATTEMPTS = 3
COORDINATION_PREFIX = "coordination:"


class State(StrEnum):
    ISSUED = "issued"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    HANDLING = "handling"
    RESULT_FED_BACK = "result_fed_back"
    VERIFIED = "verified"
    CLOSED = "closed"
    DECIDED = "decided"  # a coordination referral whose dispute was decided: a new referral went to the named body


# The actions, return reasons and outcomes are the wire's own enums (schemas.events): one list of values, named as
# the domain names them.
Action = ReferralAction
Outcome = ReferralOutcome


# action -> (states it is allowed from, state it leads to). A late acceptance is still an acceptance: lateness is
# for the evaluation (綜合評價) to count against the body, not a reason to refuse the response.
_TRANSITIONS: dict[Action, tuple[frozenset[State], State]] = {
    Action.ACCEPT: (frozenset({State.ISSUED}), State.ACCEPTED),
    Action.RETURN: (frozenset({State.ISSUED}), State.RETURNED),
    Action.EXTEND: (frozenset({State.ISSUED}), State.ISSUED),
    Action.START_HANDLING: (frozenset({State.ACCEPTED}), State.HANDLING),
    Action.FEED_BACK: (frozenset({State.HANDLING}), State.RESULT_FED_BACK),
    Action.VERIFY: (frozenset({State.RESULT_FED_BACK}), State.VERIFIED),
    Action.CLOSE: (frozenset({State.VERIFIED}), State.CLOSED),
    Action.REWORK: (frozenset({State.RESULT_FED_BACK, State.VERIFIED}), State.HANDLING),
    Action.DECIDE: (frozenset({State.ISSUED}), State.DECIDED),
}
# 核查結案: the township that reported the case verifies the result and closes it, not the body that handled it.
TOWNSHIP_ACTIONS = frozenset({Action.VERIFY, Action.CLOSE, Action.REWORK})
# A coordination referral is a dispute to decide, nothing else: coordination neither signs for nor handles the case.
COORDINATION_ACTIONS = frozenset({Action.DECIDE})
# What an actor says of its own clock may lag the server's receive time (an app offline), never lead it by more.
STATED_AT_FUTURE_SKEW = timedelta(minutes=5)
REWORK_LONGEST = timedelta(days=90)


# The case's status as every view shows it (feed, register, patrol's status views), after a referral is issued or
# one of its steps happens. "issued" after an extension changes nothing.
CASE_OPEN = "open"
CASE_CLOSED = "closed"
_CASE_STATUS_AFTER: dict[State, str] = {
    State.ACCEPTED: "accepted", State.RETURNED: "returned", State.HANDLING: "handling",
    State.RESULT_FED_BACK: "result_fed_back", State.VERIFIED: "verified", State.CLOSED: CASE_CLOSED,
    State.DECIDED: "dispute_decided",
}


def case_status_on_issue(body_id: str) -> str:
    """A referral to coordination is a dispute (争议中); one to the township itself is handled locally."""
    if body_id.startswith(COORDINATION_PREFIX):
        return "disputed"
    return "handling_locally" if body_id.startswith("township:") else "referred"


def case_status_after(to_state: str, current: str) -> str:
    """The case's status once its referral reached ``to_state``."""
    try:
        return _CASE_STATUS_AFTER.get(State(to_state), current)
    except ValueError:  # a state this version does not know: the status stays as it was
        return current


class Refusal(StrEnum):
    FORBIDDEN = "forbidden"  # the actor is not the one who may do this (HTTP 403)
    CONFLICT = "conflict"  # the referral's state does not allow it now (HTTP 409)
    INVALID = "invalid"  # the action's details are wrong (HTTP 422)


class IllegalTransition(Exception):
    """A response the referral's state or the responder's role does not allow; the message says why."""

    def __init__(self, message: str, kind: Refusal = Refusal.CONFLICT) -> None:
        super().__init__(message)
        self.kind = kind


def expected_actor(action: Action, body_id: str, township_body_id: str) -> str:
    """The one body that may take ``action`` on a referral sent to ``body_id`` for ``township_body_id``'s case."""
    return township_body_id if action in TOWNSHIP_ACTIONS else body_id


def allowed_from(action: Action) -> frozenset[State]:
    return _TRANSITIONS[action][0]


@dataclass(frozen=True)
class Transition:
    referral_id: str
    action: Action
    actor_body_id: str
    from_state: State
    to_state: State
    at: datetime
    reason: str | None = None
    outcome: Outcome | None = None
    response_id: str | None = None
    accept_by: datetime | None = None  # the new acceptance deadline, set by an extension
    reason_code: ReturnReason | None = None
    designated_body_id: str | None = None  # decide: the body named competent
    due_by: datetime | None = None  # rework: the new deadline to feed back
    stated_at: datetime | None = None  # what the actor says of when it acted
    details: dict[str, Any] = field(default_factory=dict)  # recorded as given (actor, channel, evidence)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "referral_id": self.referral_id, "action": self.action.value, "actor_body_id": self.actor_body_id,
            "from_state": self.from_state.value, "to_state": self.to_state.value, "at": self.at.isoformat(),
            "reason": self.reason, "outcome": self.outcome.value if self.outcome else None,
            "response_id": self.response_id, "accept_by": self.accept_by.isoformat() if self.accept_by else None,
        }
        # Written only when set, so the rows of the older actions stay as they were.
        optional: dict[str, Any] = {"reason_code": self.reason_code.value if self.reason_code else None,
                                    "designated_body_id": self.designated_body_id,
                                    "due_by": self.due_by.isoformat() if self.due_by else None,
                                    "stated_at": self.stated_at.isoformat() if self.stated_at else None,
                                    "details": self.details or None}
        data.update({k: v for k, v in optional.items() if v is not None})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        return cls(
            referral_id=data["referral_id"], action=Action(data["action"]), actor_body_id=data["actor_body_id"],
            from_state=State(data["from_state"]), to_state=State(data["to_state"]),
            at=datetime.fromisoformat(data["at"]), reason=data.get("reason"),
            outcome=Outcome(data["outcome"]) if data.get("outcome") else None, response_id=data.get("response_id"),
            accept_by=_time(data.get("accept_by")),
            reason_code=ReturnReason(data["reason_code"]) if data.get("reason_code") else None,
            designated_body_id=data.get("designated_body_id"), due_by=_time(data.get("due_by")),
            stated_at=_time(data.get("stated_at")), details=dict(data.get("details") or {}),
        )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Referral:
    """One referral of a case to one body (one attempt); the aggregate that validates every response."""

    referral_id: str
    case_id: str
    body_id: str
    township_body_id: str  # "township:<code>": the office that reported the case; verifies and closes it
    attempt: int
    issued_at: datetime
    accept_by: datetime
    major: bool = False
    state: State = State.ISSUED
    extended: bool = False
    designated: bool = False  # named by county coordination (指定管辖): cannot be returned
    feedback_by: datetime | None = None  # set by a rework: when the result must be fed back again
    history: list[Transition] = field(default_factory=list)

    @classmethod
    def issue(
        cls, *, case_id: str, body_id: str, township_body_id: str, attempt: int, issued_at: datetime,
        major: bool = False, policy: DeadlinePolicy | None = None, designated: bool = False,
    ) -> Referral:
        policy = policy or DeadlinePolicy()
        if attempt < 1:
            raise ValueError(f"attempt starts at 1, got {attempt}")
        if body_id.startswith(COORDINATION_PREFIX):
            accept_by = policy.dispute_decide_by(issued_at)
        else:
            accept_by = policy.accept_by(issued_at, major)
        return cls(
            referral_id=referral_id_for(case_id, attempt), case_id=case_id, body_id=body_id,
            township_body_id=township_body_id, attempt=attempt, issued_at=issued_at, accept_by=accept_by, major=major,
            designated=designated,
        )

    @property
    def is_coordination(self) -> bool:
        return self.body_id.startswith(COORDINATION_PREFIX)

    def handle(
        self, action: Action | str, actor_body_id: str, *, at: datetime, reason: str | None = None,
        outcome: Outcome | str | None = None, response_id: str | None = None, policy: DeadlinePolicy | None = None,
        reason_code: ReturnReason | str | None = None, designated_body_id: str | None = None,
        due_by: datetime | None = None, stated_at: datetime | None = None, details: dict[str, Any] | None = None,
    ) -> Transition:
        """Apply one response; raises ``IllegalTransition`` and leaves the referral unchanged when it is not allowed.

        ``at`` is the trusted time the action was received. A response whose ``response_id`` was already applied
        returns the recorded transition again (idempotent), whatever else a retry carries.
        """
        action = Action(action)
        outcome = Outcome(outcome) if outcome is not None else None
        reason_code = ReturnReason(reason_code) if reason_code is not None else None
        if response_id is not None:
            for done in self.history:
                if done.response_id == response_id:
                    if done.action != action:
                        raise IllegalTransition(f"response {response_id} was already used for {done.action.value}",
                                                Refusal.INVALID)
                    return done
        self._check_actor(action, actor_body_id)
        allowed, to_state = _TRANSITIONS[action]
        if self.state not in allowed:
            raise IllegalTransition(self._wrong_state_message(action))
        self._check_times(at, stated_at)
        self._check_details(action, reason, outcome, at, reason_code, designated_body_id, due_by)
        new_accept_by = None
        if action is Action.EXTEND:
            new_accept_by = (policy or DeadlinePolicy()).extended_accept_by(self.issued_at)
            self.accept_by, self.extended = new_accept_by, True
        if action is Action.REWORK:
            due_by = due_by or (policy or DeadlinePolicy()).rework_due_by(at)
            self.feedback_by = due_by
        transition = Transition(
            referral_id=self.referral_id, action=action, actor_body_id=actor_body_id, from_state=self.state,
            to_state=to_state, at=at, reason=reason, outcome=outcome, response_id=response_id,
            accept_by=new_accept_by, reason_code=reason_code if action is Action.RETURN else None,
            designated_body_id=designated_body_id if action is Action.DECIDE else None,
            due_by=due_by if action is Action.REWORK else None, stated_at=stated_at, details=dict(details or {}),
        )
        self.state = to_state
        self.history.append(transition)
        return transition

    @property
    def reworks(self) -> int:
        return sum(1 for t in self.history if t.action is Action.REWORK)

    def _check_actor(self, action: Action, actor: str) -> None:
        expected = expected_actor(action, self.body_id, self.township_body_id)
        if actor == expected:
            return
        if action in TOWNSHIP_ACTIONS:
            message = f"{action.value} is done by the reporting township office {self.township_body_id}, not {actor}"
        else:
            message = f"referral {self.referral_id} was sent to {self.body_id}; {actor} cannot {action.value} it"
        raise IllegalTransition(message, Refusal.FORBIDDEN)

    def _check_times(self, at: datetime, stated_at: datetime | None) -> None:
        # The receive time comes from liandong's own clock; one before the referral existed is a forged or broken
        # producer, and so is a stated time outside [issue, receive + skew].
        if at < self.issued_at:
            raise IllegalTransition(f"an action received at {at.isoformat()} predates the referral "
                                    f"(issued {self.issued_at.isoformat()})", Refusal.INVALID)
        if stated_at is not None:
            # Stated times often come in whole seconds (Open311's updated_datetime, a form's clock): one in the
            # second the referral was issued is not before it, even if it reads a fraction earlier.
            if stated_at < self.issued_at.replace(microsecond=0):
                raise IllegalTransition(f"stated_at {stated_at.isoformat()} is before the referral was issued "
                                        f"({self.issued_at.isoformat()})", Refusal.INVALID)
            if stated_at > at + STATED_AT_FUTURE_SKEW:
                raise IllegalTransition(f"stated_at {stated_at.isoformat()} is after the action was received "
                                        f"({at.isoformat()})", Refusal.INVALID)

    def _wrong_state_message(self, action: Action) -> str:
        prefix = f"cannot {action.value} referral {self.referral_id} in state {self.state.value}"
        if self.state is State.DECIDED:
            return f"{prefix}: the dispute was decided; the case went to the body named competent"
        if self.state is State.RETURNED:
            return f"{prefix}: it was returned; the case is re-routed under a new referral"
        if action is Action.CLOSE and self.state in (State.ISSUED, State.ACCEPTED, State.HANDLING):
            return f"{prefix}: no result has been fed back yet"
        if action is Action.CLOSE and self.state is State.RESULT_FED_BACK:
            return f"{prefix}: the township has not verified the result yet"
        if action in (Action.RETURN, Action.EXTEND) and self.state is not State.ISSUED:
            return f"{prefix}: only a referral not yet accepted can be returned or have its deadline extended"
        allowed = ", ".join(sorted(s.value for s in _TRANSITIONS[action][0]))
        return f"{prefix}: allowed only from {allowed}"

    def _check_details(self, action: Action, reason: str | None, outcome: Outcome | None, at: datetime,
                       reason_code: ReturnReason | None, designated_body_id: str | None,
                       due_by: datetime | None) -> None:
        if self.is_coordination and action not in COORDINATION_ACTIONS:
            raise IllegalTransition(f"a dispute referral is decided (decide, naming the competent body); "
                                    f"county coordination cannot {action.value} it", Refusal.CONFLICT)
        if action is Action.DECIDE:
            if not self.is_coordination:
                raise IllegalTransition("only a dispute referral to county coordination is decided", Refusal.CONFLICT)
            if not designated_body_id or designated_body_id.startswith(COORDINATION_PREFIX):
                raise IllegalTransition("decide must name the competent body (designated_body_id)", Refusal.INVALID)
        if action is Action.RETURN:
            if self.designated:
                raise IllegalTransition("county coordination named this body competent (指定管辖); "
                                        "the referral cannot be returned", Refusal.CONFLICT)
            has_text = bool(reason and reason.strip())
            if not has_text and reason_code in (None, ReturnReason.OTHER):
                raise IllegalTransition("a return must give a reason_code (wrong_place, overlapping_duties, "
                                        "unclear_ownership, not_our_duty) or, for other, a reason text",
                                        Refusal.INVALID)
        if action is Action.REWORK:
            if not (reason and reason.strip()):
                raise IllegalTransition("a rework must say what is to be redone (reason)", Refusal.INVALID)
            if due_by is not None and not (at < due_by <= at + REWORK_LONGEST):
                raise IllegalTransition(f"due_by must be after now and at most {REWORK_LONGEST.days} days ahead",
                                        Refusal.INVALID)
        if action is Action.FEED_BACK and outcome is None:
            raise IllegalTransition(f"feed_back needs an outcome: one of {', '.join(o.value for o in Outcome)}",
                                    Refusal.INVALID)
        if action is not Action.FEED_BACK and outcome is not None:
            raise IllegalTransition(f"an outcome belongs to feed_back, not to {action.value}", Refusal.INVALID)
        if action is Action.EXTEND:
            if self.extended:
                raise IllegalTransition(f"the acceptance deadline was already extended once (to {self.accept_by})")
            if self.major:
                raise IllegalTransition("a major matter has a fixed 24-hour limit and cannot be extended")
            if is_overdue(self.accept_by, at):
                raise IllegalTransition(f"the acceptance deadline {self.accept_by} has passed; ask before it")

    def to_dict(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id, "case_id": self.case_id, "body_id": self.body_id,
            "township_body_id": self.township_body_id, "attempt": self.attempt,
            "issued_at": self.issued_at.isoformat(), "accept_by": self.accept_by.isoformat(), "major": self.major,
            "state": self.state.value, "extended": self.extended, "history": [t.to_dict() for t in self.history],
            **({"designated": True} if self.designated else {}),
            **({"feedback_by": self.feedback_by.isoformat()} if self.feedback_by else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Referral:
        return cls(
            referral_id=data["referral_id"], case_id=data["case_id"], body_id=data["body_id"],
            township_body_id=data["township_body_id"], attempt=int(data["attempt"]),
            issued_at=datetime.fromisoformat(data["issued_at"]), accept_by=datetime.fromisoformat(data["accept_by"]),
            major=bool(data["major"]), state=State(data["state"]), extended=bool(data["extended"]),
            designated=bool(data.get("designated", False)), feedback_by=_time(data.get("feedback_by")),
            history=[Transition.from_dict(t) for t in data["history"]],
        )


@dataclass(frozen=True)
class Reroute:
    """Issue attempt ``attempt`` to another competent body, none of ``exclude_body_ids``."""

    attempt: int
    exclude_body_ids: frozenset[str]


@dataclass(frozen=True)
class EscalateToCoordination:
    """Stop re-routing: issue attempt ``attempt`` to the county coordination body, which cannot return it."""

    attempt: int
    exclude_body_ids: frozenset[str]
    reason: str


@dataclass(frozen=True)
class IssueDesignated:
    """County coordination decided the dispute: issue attempt ``attempt`` to ``body_id``, which cannot return it."""

    attempt: int
    body_id: str


def next_step_after_decision(decided: Referral) -> IssueDesignated:
    last = decided.history[-1] if decided.history else None
    if decided.state is not State.DECIDED or last is None or last.designated_body_id is None:
        raise ValueError(f"referral {decided.referral_id} is {decided.state.value}, not decided")
    return IssueDesignated(decided.attempt + 1, last.designated_body_id)


def next_step_after_return(referrals: Sequence[Referral]) -> Reroute | EscalateToCoordination:
    """What follows a return, given all referrals of the case so far (the latest must be the returned one)."""
    if not referrals:
        raise ValueError("no referrals given")
    latest = max(referrals, key=lambda r: r.attempt)
    if latest.state is not State.RETURNED:
        raise ValueError(f"latest referral {latest.referral_id} is {latest.state.value}, not returned")
    excluded = frozenset(r.body_id for r in referrals if r.state is State.RETURNED)
    if latest.attempt >= MAX_ATTEMPTS:
        return EscalateToCoordination(
            latest.attempt + 1, excluded, f"returned {latest.attempt} times; county coordination decides jurisdiction"
        )
    return Reroute(latest.attempt + 1, excluded)
