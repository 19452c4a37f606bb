"""The info-share service layer: the register's one command, and taking one action on a referral.

``Register.apply``: apply a case event to the register and say what the feed should carry (the worker publishes it;
no Kafka here).

Taking one action on a referral, whatever the channel: check it, put it on the broker, answer with the verdict.

Every action is checked here against the register (403: not the caller's to do; 409: the state does not allow it
now), put on the internal referral-responses topic with the acting body from the caller's authentication and
liandong's receive time, and answered once dispatch's verdict is in the register (applied, or its refusal), or as
pending with a status URL if the verdict takes longer than ``action_wait_seconds``. Dispatch applies the same
lifecycle rules again, in order with every other action on the case, so a race between two callers is settled there.

The lifecycle API (bearer tokens) and Open311 ``servicerequestupdates`` (work-order systems' API keys) both act
through the one ``ActionDesk``; they differ only in how they authenticate and in the shape of their answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker

from schemas.events import Channel, FeedEntry, ReferralOutcome, ReferralResponded, ReturnReason
from services.common.lifecycle import STATED_AT_FUTURE_SKEW, TOWNSHIP_ACTIONS, Action, allowed_from
from services.common.principal import Principal
from services.common.responses import received_now, response_id_for, response_record
from services.info_share.adapters import queries, worklist
from services.info_share.adapters.action_publisher import ActionPublisher, BrokerUnavailable
from services.info_share.adapters.register.projection import CaseEvent, apply_event
from services.info_share.adapters.register.tables import LedgerRow
from services.info_share.domain.audience import Audience, audience_for, sees_figures_of_all
from services.info_share.feed import feed_entry
from services.reference.loader import ReferenceData


@dataclass(frozen=True)
class Result:
    outcome: str  # applied, duplicate, orphan
    entry: FeedEntry | None  # to publish; also for a duplicate (an earlier run may have died before publishing)


class Register:
    def __init__(self, sessions: sessionmaker[Session], reference: ReferenceData) -> None:
        self.sessions = sessions
        self.reference = reference

    def apply(self, event: CaseEvent) -> Result:
        """One transaction per event; ``projection.NotApplicable`` leaves the register untouched."""
        with self.sessions.begin() as session:
            applied = apply_event(session, event)
            entry = feed_entry(applied.row, self.reference) if applied.row is not None else None
        return Result(applied.outcome, entry)


# Times a request may carry: far enough either way for any real action, near enough that no date arithmetic
# (time zones, working days) can overflow.
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
REFUSAL_STATUS = {"forbidden": 403, "conflict": 409, "invalid": 422, "not_found": 404}
# The CloudEvents source of the actions each channel of this service puts on the broker.
SOURCES = {Channel.HTTP: "/info-share/lifecycle", Channel.OPEN311: "/info-share/open311"}


class Refused(Exception):
    def __init__(self, status: int, error: str, detail: str, state: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.state = status, error, detail, state


@dataclass(frozen=True)
class ActionDetails:
    """What an action says besides who and when (those come from authentication and the clock)."""

    stated_at: datetime | None = None
    reason: str | None = None
    reason_code: ReturnReason | None = None
    outcome: ReferralOutcome | None = None
    designated_body_id: str | None = None
    due_by: datetime | None = None
    evidence: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Verdict:
    """Dispatch's answer to one action, or that it has not answered yet."""

    status: str  # applied | refused | pending
    action_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    http_status: int = 200


class ActionDesk:
    def __init__(self, *, sessions: sessionmaker[Session], publisher: ActionPublisher, wait_seconds: float) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._wait_seconds = wait_seconds

    async def act(self, who: Principal, referral_id: str, action: Action, details: ActionDetails, *,
                  key: str | None, channel: Channel) -> Verdict:
        """``key`` names the action for idempotency: the same key from the same actor is the same action. Without
        one the referral's version stands in, so a retry of the same step is the same action."""
        received_at = received_now()
        command = await anyio.to_thread.run_sync(
            lambda: self._command(who, referral_id, action, details, key, received_at, channel))
        if isinstance(command, Verdict):
            return command  # answered before: the same answer again
        response, dedup_group = command
        try:
            await self._publisher.publish(response_record(response, dedup_group=dedup_group, source=SOURCES[channel]))
        except BrokerUnavailable as exc:
            raise Refused(503, "broker_unavailable", str(exc)) from exc
        return await self.await_verdict(response.response_id)

    def entitled_view(self, db: Session, who: Principal, referral_id: str) -> worklist.ReferralView:
        view = worklist.referral_view(db, referral_id)
        if view is None:
            raise Refused(404, "not_found", f"no referral {referral_id}")
        parties = queries.parties_of(db, {view.case.case_id}).get(view.case.case_id, set())
        if not entitled(who, parties, view.case.county_code):
            raise Refused(403, "forbidden", f"{who.subject} is not a party to referral {referral_id}")
        return view

    def _command(self, who: Principal, referral_id: str, action: Action, details: ActionDetails, key: str | None,
                 received_at: datetime, channel: Channel) -> tuple[ReferralResponded, str] | Verdict:
        with self._sessions() as db:
            view = self.entitled_view(db, who, referral_id)
            actor = view.actor_for(action, who.body_ids)
            if actor is None:
                raise Refused(403, "forbidden", not_yours(view, action, who))
            version = len(queries.transitions(db, case_id=view.case.case_id, referral_id=referral_id))
            response_id = response_id_for(actor, referral_id, action.value, key or f"v{version}")
            answered = worklist.verdict(db, response_id)
            if answered is not None:
                if key is not None and answered.event == "case_transitioned":
                    changed = changed_details(answered.payload, details)
                    if changed:  # the same key is the same request: a retry cannot say something else
                        raise Refused(422, "idempotency_key_reused",
                                      f"Idempotency-Key {key} was used for this {action.value} with another "
                                      f"{', '.join(changed)}; send a new key for a new action")
                return verdict_from(answered, response_id)
            if key is not None:
                used_for = next((other for other in Action if other is not action and verdict_of(
                    db, response_id_for(actor, referral_id, other.value, key)) is not None), None)
                if used_for is not None:  # a key names one action: a retry must be that action again
                    raise Refused(409, "conflict", f"Idempotency-Key {key} was used for {used_for.value} of "
                                  f"referral {referral_id}; send a new key for a new action")
            if view.state not in allowed_from(action):
                raise Refused(409, "conflict", f"cannot {action.value} referral {referral_id} in state "
                              f"{view.state.value} ({worklist.STATE_LABELS.get(view.state.value)})",
                              view.state.value)
            if details.stated_at is not None and details.stated_at > received_at + STATED_AT_FUTURE_SKEW:
                raise Refused(422, "invalid", "stated_at is in the future")
            response = ReferralResponded(
                response_id=response_id, referral_id=referral_id, case_id=view.case.case_id, body_id=actor,
                action=action, reason=details.reason, outcome=details.outcome,
                responded_at=received_at, reason_code=details.reason_code,
                designated_body_id=details.designated_body_id, due_by=details.due_by,
                evidence=tuple(details.evidence), stated_at=details.stated_at, actor=who.subject, channel=channel)
            return response, view.case.dedup_group

    async def await_verdict(self, response_id: str) -> Verdict:
        deadline = asyncio.get_running_loop().time() + self._wait_seconds
        while True:
            answer = await anyio.to_thread.run_sync(lambda: self.verdict(response_id))
            if answer.status != "pending" or asyncio.get_running_loop().time() >= deadline:
                return answer
            await asyncio.sleep(0.1)

    def verdict(self, response_id: str) -> Verdict:
        with self._sessions() as db:
            return verdict_of(db, response_id) or Verdict("pending", response_id, http_status=202)


def verdict_of(db: Session, response_id: str) -> Verdict | None:
    row = worklist.verdict(db, response_id)
    return None if row is None else verdict_from(row, response_id)


def verdict_from(row: LedgerRow, response_id: str) -> Verdict:
    payload = row.payload
    if row.event == "response_rejected":
        code = payload.get("code") or "conflict"
        return Verdict("refused", response_id, {"error": code, "detail": payload["reason"],
                                                "state": payload.get("state")}, REFUSAL_STATUS.get(code, 409))
    return Verdict("applied", response_id, {
        "referral_id": payload["referral_id"], "action": payload["action"], "from_state": payload["from_state"],
        "to_state": payload["to_state"], "at": payload["occurred_at"], "case_id": payload["case_id"],
        "sequence": row.sequence})


def changed_details(applied: dict[str, Any], details: ActionDetails) -> list[str]:
    """The fields in which a retried request differs from the transition its key already made."""
    def instant(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    was = {"reason": applied.get("reason"), "reason_code": applied.get("reason_code"),
           "outcome": applied.get("outcome"), "designated_body_id": applied.get("designated_body_id"),
           "due_by": instant(applied.get("due_by")), "stated_at": instant(applied.get("stated_at")),
           "evidence": tuple(applied.get("evidence") or ())}
    now = {"reason": details.reason, "reason_code": details.reason_code and details.reason_code.value,
           "outcome": details.outcome and details.outcome.value, "designated_body_id": details.designated_body_id,
           "due_by": details.due_by, "stated_at": details.stated_at, "evidence": tuple(details.evidence)}
    return [("reason/note" if name == "reason" else name) for name in was if was[name] != now[name]]


def entitled(who: Principal, parties: set[str], county: str) -> bool:
    return audience_for(who, parties) is Audience.FULL or who.county_scope == county or sees_figures_of_all(who)


def not_yours(view: worklist.ReferralView, action: Action, who: Principal) -> str:
    if action in TOWNSHIP_ACTIONS:
        return f"{action.value} is done by the reporting township office {view.township_body_id}"
    return (f"referral {view.referral.referral_id} was sent to {view.referral.body_id}, "
            f"not to {who.body_id or who.subject}")
