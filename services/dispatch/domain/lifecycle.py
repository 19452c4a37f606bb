"""The referral (案件移送) state machine: issue, accept or return, handle, feed back, verify, close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .deadlines import DeadlinePolicy, is_overdue
from .identifiers import referral_id_for

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


class Action(StrEnum):
    """Same values as ``schemas.events.ReferralAction``: the domain does not import wire models."""

    ACCEPT = "accept"
    RETURN = "return"
    START_HANDLING = "start_handling"
    FEED_BACK = "feed_back"
    VERIFY = "verify"
    CLOSE = "close"
    EXTEND = "extend"


class Outcome(StrEnum):
    PENALTY_DECIDED = "penalty_decided"
    RECTIFIED = "rectified"
    NO_VIOLATION = "no_violation"
    TRANSFERRED_TO_JUDICIARY = "transferred_to_judiciary"


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
}
# 核查結案: the township that reported the case verifies the result and closes it, not the body that handled it.
_TOWNSHIP_ACTIONS = frozenset({Action.VERIFY, Action.CLOSE})


class IllegalTransition(Exception):
    """A response the referral's state or the responder's role does not allow; the message says why."""


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id, "action": self.action.value, "actor_body_id": self.actor_body_id,
            "from_state": self.from_state.value, "to_state": self.to_state.value, "at": self.at.isoformat(),
            "reason": self.reason, "outcome": self.outcome.value if self.outcome else None,
            "response_id": self.response_id, "accept_by": self.accept_by.isoformat() if self.accept_by else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        return cls(
            referral_id=data["referral_id"], action=Action(data["action"]), actor_body_id=data["actor_body_id"],
            from_state=State(data["from_state"]), to_state=State(data["to_state"]),
            at=datetime.fromisoformat(data["at"]), reason=data.get("reason"),
            outcome=Outcome(data["outcome"]) if data.get("outcome") else None, response_id=data.get("response_id"),
            accept_by=datetime.fromisoformat(data["accept_by"]) if data.get("accept_by") else None,
        )


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
    history: list[Transition] = field(default_factory=list)

    @classmethod
    def issue(
        cls, *, case_id: str, body_id: str, township_body_id: str, attempt: int, issued_at: datetime,
        major: bool = False, policy: DeadlinePolicy | None = None,
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
        )

    @property
    def is_coordination(self) -> bool:
        return self.body_id.startswith(COORDINATION_PREFIX)

    def handle(
        self, action: Action | str, actor_body_id: str, *, at: datetime, reason: str | None = None,
        outcome: Outcome | str | None = None, response_id: str | None = None, policy: DeadlinePolicy | None = None,
    ) -> Transition:
        """Apply one response; raises ``IllegalTransition`` and leaves the referral unchanged when it is not allowed.

        A response whose ``response_id`` was already applied returns the recorded transition again (idempotent).
        """
        action = Action(action)
        outcome = Outcome(outcome) if outcome is not None else None
        if response_id is not None:
            for done in self.history:
                if done.response_id == response_id:
                    if done.action != action:
                        raise IllegalTransition(f"response {response_id} was already used for {done.action.value}")
                    return done
        self._check_actor(action, actor_body_id)
        allowed_from, to_state = _TRANSITIONS[action]
        if self.state not in allowed_from:
            raise IllegalTransition(self._wrong_state_message(action))
        self._check_details(action, reason, outcome, at)
        new_accept_by = None
        if action is Action.EXTEND:
            new_accept_by = (policy or DeadlinePolicy()).extended_accept_by(self.issued_at)
            self.accept_by, self.extended = new_accept_by, True
        transition = Transition(
            referral_id=self.referral_id, action=action, actor_body_id=actor_body_id, from_state=self.state,
            to_state=to_state, at=at, reason=reason, outcome=outcome, response_id=response_id,
            accept_by=new_accept_by,
        )
        self.state = to_state
        self.history.append(transition)
        return transition

    def _check_actor(self, action: Action, actor: str) -> None:
        if action in _TOWNSHIP_ACTIONS:
            if actor != self.township_body_id:
                raise IllegalTransition(
                    f"{action.value} is done by the reporting township office {self.township_body_id}, not {actor}"
                )
        elif actor != self.body_id:
            raise IllegalTransition(
                f"referral {self.referral_id} was sent to {self.body_id}; {actor} cannot {action.value} it"
            )

    def _wrong_state_message(self, action: Action) -> str:
        prefix = f"cannot {action.value} referral {self.referral_id} in state {self.state.value}"
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

    def _check_details(self, action: Action, reason: str | None, outcome: Outcome | None, at: datetime) -> None:
        if action is Action.RETURN:
            if self.is_coordination:
                raise IllegalTransition("county coordination decides jurisdiction disputes; it cannot return a case")
            if not (reason and reason.strip()):
                raise IllegalTransition("a return must give a reason (why the matter is not this body's)")
        if action is Action.FEED_BACK and outcome is None:
            raise IllegalTransition(f"feed_back needs an outcome: one of {', '.join(o.value for o in Outcome)}")
        if action is not Action.FEED_BACK and outcome is not None:
            raise IllegalTransition(f"an outcome belongs to feed_back, not to {action.value}")
        if action is Action.EXTEND:
            if self.extended:
                raise IllegalTransition(f"the acceptance deadline was already extended once (to {self.accept_by})")
            if self.major:
                raise IllegalTransition("a major matter has a fixed 24-hour limit and cannot be extended")
            if self.is_coordination:
                raise IllegalTransition("the 5-working-day limit for deciding a dispute cannot be extended")
            if is_overdue(self.accept_by, at):
                raise IllegalTransition(f"the acceptance deadline {self.accept_by} has passed; ask before it")

    def to_dict(self) -> dict[str, Any]:
        return {
            "referral_id": self.referral_id, "case_id": self.case_id, "body_id": self.body_id,
            "township_body_id": self.township_body_id, "attempt": self.attempt,
            "issued_at": self.issued_at.isoformat(), "accept_by": self.accept_by.isoformat(), "major": self.major,
            "state": self.state.value, "extended": self.extended, "history": [t.to_dict() for t in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Referral:
        return cls(
            referral_id=data["referral_id"], case_id=data["case_id"], body_id=data["body_id"],
            township_body_id=data["township_body_id"], attempt=int(data["attempt"]),
            issued_at=datetime.fromisoformat(data["issued_at"]), accept_by=datetime.fromisoformat(data["accept_by"]),
            major=bool(data["major"]), state=State(data["state"]), extended=bool(data["extended"]),
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
