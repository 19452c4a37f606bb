"""The lifecycle API: receiving bodies, townships and county coordination act on referrals, as their token says.

Every action is checked here against the register (403: not the caller's to do; 409: the state does not allow it
now), put on the internal referral-responses topic with the acting body from the token and liandong's receive time,
and answered once dispatch's verdict is in the register (200 applied, or its refusal), or with 202 and a status URL
if the verdict takes longer than ``action_wait_seconds``. Dispatch applies the same lifecycle rules again, in order
with every other action on the case, so a race between two callers is settled there.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import asyncio
import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schemas.bounds import Instant
from schemas.events import Channel, EvidenceLink, ReferralAction, ReferralOutcome, ReferralResponded, ReturnReason
from services.common.responses import received_now, response_id_for, response_record
from services.dispatch.domain.lifecycle import (
    STATED_AT_FUTURE_SKEW,
    TOWNSHIP_ACTIONS,
    Action,
    State,
    allowed_from,
)
from services.info_share import queries, worklist
from services.info_share.action_publisher import ActionPublisher, BrokerUnavailable
from services.info_share.domain.audience import Audience, Caller, audience_for, sees_figures_of_all
from services.info_share.register.tables import TransitionRow
from services.info_share.settings import InfoShareApiSettings
from services.reference.loader import ReferenceData

SOURCE = "/info-share/lifecycle"
# Times a request may carry: far enough either way for any real action, near enough that no date arithmetic
# (time zones, working days) can overflow.
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
REFUSAL_STATUS = {"forbidden": 403, "conflict": 409, "invalid": 422, "not_found": 404}
IdempotencyKey = Annotated[str | None, Header(max_length=128, pattern=r"^[\x21-\x7e]+$",
                                              description="Same key, same action: a retry answers the same")]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stated_at: Instant | None = Field(None, description="When you acted, by your clock (recorded, bounded)")

    @field_validator("*")
    @classmethod
    def _times_in_range(cls, value: Any) -> Any:
        if isinstance(value, datetime) and not EARLIEST <= value <= LATEST:
            raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
        return value


class AcceptBody(ActionBody):
    pass


class ReturnBody(ActionBody):
    reason_code: ReturnReason
    reason: str | None = Field(None, max_length=2000, description="Required when reason_code is other")


class ExtensionBody(ActionBody):
    reason: str = Field(min_length=1, max_length=2000)


class FeedbackBody(ActionBody):
    outcome: ReferralOutcome
    note: str | None = Field(None, max_length=2000)
    evidence: list[EvidenceLink] = Field(default_factory=list, max_length=20)


class NoteBody(ActionBody):
    note: str | None = Field(None, max_length=2000)


class ReworkBody(ActionBody):
    reason: str = Field(min_length=1, max_length=2000)
    due_by: Instant | None = Field(None, description="Default: the policy's rework limit in working days")


class DecisionBody(ActionBody):
    body_id: str = Field(max_length=80, description="The body named competent (指定管辖)")
    reason: str | None = Field(None, max_length=2000)


# path segment -> (action, request model, what the route does)
ROUTES: dict[str, tuple[Action, type[ActionBody], str]] = {
    "accept": (Action.ACCEPT, AcceptBody, "Sign for the referral (签收)."),
    "return": (Action.RETURN, ReturnBody, "Return it with a reason code (退回); the case is re-routed."),
    "extension": (Action.EXTEND, ExtensionBody, "Ask for the one extension (3 → 5 working days) before the deadline."),
    "start": (Action.START_HANDLING, AcceptBody, "Start handling (办理)."),
    "feedback": (Action.FEED_BACK, FeedbackBody, "Feed the result back (处理反馈): outcome, note, evidence links."),
    "verify": (Action.VERIFY, NoteBody, "The reporting township verifies the fed-back result (核查)."),
    "close": (Action.CLOSE, NoteBody, "The reporting township closes the case (结案) with a closing note."),
    "rework": (Action.REWORK, ReworkBody, "The reporting township sends the result back (驳回重办) with a deadline."),
    "decision": (Action.DECIDE, DecisionBody, "County coordination decides the dispute by naming the competent body."),
}


class Refused(Exception):
    def __init__(self, status: int, error: str, detail: str, state: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.state = status, error, detail, state


def add_lifecycle_routes(app: FastAPI, *, settings: InfoShareApiSettings, sessions: sessionmaker[Session],
                         reference: ReferenceData, official: Callable[..., Caller],
                         refuse: Callable[[Request, int, str, str, dict[str, str]], JSONResponse],
                         publisher: ActionPublisher) -> None:
    Official = Annotated[Caller, Depends(official)]

    def session() -> Iterator[Session]:
        with sessions() as s:
            yield s

    DbSession = Annotated[Session, Depends(session)]

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        answer = refuse(request, exc.status, exc.error, exc.detail, {"Retry-After": "1"} if exc.status == 503 else {})
        if exc.state is not None:  # the state that made it a conflict, for the client to show
            answer = JSONResponse({"error": exc.error, "detail": exc.detail, "state": exc.state},
                                  status_code=exc.status, headers={"X-Request-ID": answer.headers["X-Request-ID"]})
        return answer

    @app.get("/v1/referrals", tags=["lifecycle"])
    def my_referrals(db: DbSession, who: Official,
                     state: Annotated[State | None, Query(description="e.g. issued (待签收), handling")] = None,
                     category: Annotated[str | None, Query(max_length=64)] = None,
                     needs_action: Annotated[bool, Query(description="only what the caller can act on now")] = False,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """Referrals the caller receives (and, for a township, those of its cases), the most urgent first; each
        card has the state in words, the deadline standing (due_soon, overdue, in working days) and the actions
        the caller may take now."""
        now = datetime.now(UTC)
        views = worklist.worklist(db, acting_as=who.body_ids, county_scope=who.county_scope,
                                  state=state.value if state else None, category=category,
                                  needs_action=needs_action, limit=limit)
        return {"referrals": [worklist.card(v, reference=reference, acting_as=who.body_ids, now=now)
                              for v in views]}

    @app.get("/v1/referrals/{referral_id}", tags=["lifecycle"])
    def one_referral(db: DbSession, who: Official, referral_id: str) -> dict[str, Any]:
        """One referral's card and its own timeline, for the parties of its case."""
        view = _entitled_view(db, who, referral_id)
        answer = worklist.card(view, reference=reference, acting_as=who.body_ids, now=datetime.now(UTC))
        answer["timeline"] = [_transition(t) for t in _transitions(db, case_id=view.case.case_id,
                                                                   referral_id=referral_id)]
        return answer

    @app.get("/v1/cases/{case_id}/timeline", tags=["lifecycle"])
    def timeline(db: DbSession, who: Official, case_id: str) -> dict[str, Any]:
        """Every transition of every referral of the case: who, when, why. For the parties of the case, its
        county's coordination and supervisors."""
        bundle = queries.case_bundle(db, case_id=case_id)
        if bundle is None:
            raise HTTPException(404, f"no case {case_id}")
        if not _entitled(who, bundle.party_ids, bundle.case.county_code):
            raise Refused(403, "forbidden", f"{who.subject} is not a party to case {case_id}")
        return {"case_id": case_id, "status": bundle.case.status,
                "previous_case_id": bundle.case.previous_case_id,
                "transitions": [_transition(t) for t in _transitions(db, case_id=case_id)]}

    @app.get("/v1/coordination/disputes", tags=["lifecycle"])
    def coordination_desk(db: DbSession, who: Official, limit: Annotated[int, Query(ge=1, le=500)] = 200
                          ) -> dict[str, Any]:
        """County coordination: disputes to decide (5 working days) and overdue referrals of its county."""
        county = who.county_scope
        if county is None:
            raise Refused(403, "forbidden", "the coordination desk is for a county coordination body's token")
        now = datetime.now(UTC)
        desk = worklist.disputes(db, county=county, now=now, limit=limit)
        return {name: [worklist.card(v, reference=reference, acting_as=who.body_ids, now=now) for v in views]
                for name, views in desk.items()}

    @app.get("/v1/actions/{action_id}", tags=["lifecycle"])
    def action_status(db: DbSession, who: Official, action_id: str) -> JSONResponse:
        """Where an action stands: applied, refused (with why), or pending (dispatch has not answered yet)."""
        return _answer(db, action_id, pending_if_unknown=True)

    def _action_route(action: Action, model: type[ActionBody]) -> Callable[..., Any]:
        async def act(request: Request, who: Official, referral_id: str,
                      body: Annotated[model, Body()] = None,  # type: ignore[valid-type,assignment]
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
            details = body if body is not None else _empty_body(model)
            received_at = received_now()
            command = await anyio.to_thread.run_sync(
                lambda: _command(who, referral_id, action, details, idempotency_key, received_at))
            if isinstance(command, JSONResponse):
                return command  # answered before: the same answer again
            response, dedup_group = command
            try:
                await publisher.publish(response_record(response, dedup_group=dedup_group, source=SOURCE))
            except BrokerUnavailable as exc:
                raise Refused(503, "broker_unavailable", str(exc)) from exc
            return await _await_verdict(response.response_id)
        act.__doc__ = ROUTES_DOC.get(action, "")
        return act

    def _empty_body(model: type[ActionBody]) -> ActionBody:
        """No body is an empty one: fine for an action without required fields, a 422 naming them otherwise."""
        try:
            return model()
        except ValidationError as exc:
            missing = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise Refused(422, "invalid", f"body: required fields missing: {missing}") from None

    def _command(who: Caller, referral_id: str, action: Action, details: ActionBody, key: str | None,
                 received_at: datetime) -> tuple[ReferralResponded, str] | JSONResponse:
        with sessions() as db:
            view = _entitled_view(db, who, referral_id)
            actor = view.actor_for(action, who.body_ids)
            if actor is None:
                raise Refused(403, "forbidden", _not_yours(view, action, who))
            # Without a key the referral's version stands in: a retry of the same step is the same action.
            version = len(_transitions(db, case_id=view.case.case_id, referral_id=referral_id))
            response_id = response_id_for(actor, referral_id, action.value, key or f"v{version}")
            if worklist.verdict(db, response_id) is not None:
                return _answer(db, response_id, pending_if_unknown=False)
            if view.state not in allowed_from(action):
                raise Refused(409, "conflict", f"cannot {action.value} referral {referral_id} in state "
                              f"{view.state.value} ({worklist.STATE_LABELS.get(view.state.value)})",
                              view.state.value)
            if details.stated_at is not None and details.stated_at > received_at + STATED_AT_FUTURE_SKEW:
                raise Refused(422, "invalid", "stated_at is in the future")
            return _response(view, action, details, actor, who, response_id, received_at), view.case.dedup_group

    async def _await_verdict(response_id: str) -> JSONResponse:
        deadline = asyncio.get_running_loop().time() + settings.action_wait_seconds
        while True:
            answer = await anyio.to_thread.run_sync(lambda: _answer_in_new_session(response_id))
            if answer is not None or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.1)
        if answer is None:
            return JSONResponse({"status": "pending", "action_id": response_id,
                                 "status_url": f"/v1/actions/{response_id}"}, status_code=202,
                                headers={"Location": f"/v1/actions/{response_id}"})
        return answer

    def _answer_in_new_session(response_id: str) -> JSONResponse | None:
        with sessions() as db:
            if worklist.verdict(db, response_id) is None:
                return None
            return _answer(db, response_id, pending_if_unknown=False)

    def _answer(db: Session, response_id: str, *, pending_if_unknown: bool) -> JSONResponse:
        row = worklist.verdict(db, response_id)
        if row is None:
            if not pending_if_unknown:
                raise HTTPException(404, f"no action {response_id}")
            return JSONResponse({"status": "pending", "action_id": response_id}, status_code=202)
        payload = row.payload
        if row.event == "response_rejected":
            code = payload.get("code") or "conflict"
            return JSONResponse({"status": "refused", "action_id": response_id, "error": code,
                                 "detail": payload["reason"], "state": payload.get("state")},
                                status_code=REFUSAL_STATUS.get(code, 409))
        return JSONResponse({"status": "applied", "action_id": response_id, "referral_id": payload["referral_id"],
                             "action": payload["action"], "from_state": payload["from_state"],
                             "to_state": payload["to_state"], "at": payload["occurred_at"],
                             "case_id": payload["case_id"], "sequence": row.sequence})

    def _entitled_view(db: Session, who: Caller, referral_id: str) -> worklist.ReferralView:
        view = worklist.referral_view(db, referral_id)
        if view is None:
            raise HTTPException(404, f"no referral {referral_id}")
        parties = queries.parties_of(db, {view.case.case_id}).get(view.case.case_id, set())
        if not _entitled(who, parties, view.case.county_code):
            raise Refused(403, "forbidden", f"{who.subject} is not a party to referral {referral_id}")
        return view

    def _entitled(who: Caller, parties: set[str], county: str) -> bool:
        return (audience_for(who, parties) is Audience.FULL or who.county_scope == county
                or sees_figures_of_all(who))

    @app.get("/v1/stats/evaluation.csv", tags=["lifecycle"], response_class=Response)
    def evaluation_csv(db: DbSession, who: Official) -> Response:
        """The per-body evaluation figures as CSV (one row per body), over the cases the caller may see."""
        scope = queries.StatsScope(all_cases=sees_figures_of_all(who), county=who.county_scope,
                                   party_of=who.body_ids)
        bodies, _townships = queries.figures(db, scope=scope, filters=queries.Filters(), now=datetime.now(UTC))
        out = io.StringIO()
        names = list(type(bodies[0]).__dataclass_fields__) if bodies else ["body_id"]
        writer = csv.DictWriter(out, fieldnames=["body_name", *names])
        writer.writeheader()
        for figures in bodies:
            row = {n: getattr(figures, n) for n in names}
            writer.writerow({"body_name": _body_name(reference, figures.body_id), **row})
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="evaluation.csv"'})


    for segment, (action, model, summary) in ROUTES.items():
        app.add_api_route(f"/v1/referrals/{{referral_id}}/{segment}", _action_route(action, model), methods=["POST"],
                          summary=summary, tags=["lifecycle"], name=f"referral_{segment}",
                          responses={403: {"description": "not the caller's to do (audited)"},
                                     409: {"description": "the referral's state does not allow it now"},
                                     422: {"description": "invalid details"},
                                     503: {"description": "the broker did not take it; retry with the same key"}})


ROUTES_DOC = {action: doc for action, _model, doc in ROUTES.values()}


def _response(view: worklist.ReferralView, action: Action, details: ActionBody, actor: str, who: Caller,
              response_id: str, received_at: datetime) -> ReferralResponded:
    reason = getattr(details, "reason", None) or getattr(details, "note", None)
    return ReferralResponded(
        response_id=response_id, referral_id=view.referral.referral_id, case_id=view.case.case_id, body_id=actor,
        action=ReferralAction(action.value), reason=reason, outcome=getattr(details, "outcome", None),
        responded_at=received_at, reason_code=getattr(details, "reason_code", None),
        designated_body_id=getattr(details, "body_id", None), due_by=getattr(details, "due_by", None),
        evidence=tuple(getattr(details, "evidence", ()) or ()), stated_at=details.stated_at, actor=who.subject,
        channel=Channel.HTTP,
    )


def _not_yours(view: worklist.ReferralView, action: Action, who: Caller) -> str:
    if action in TOWNSHIP_ACTIONS:
        return f"{action.value} is done by the reporting township office {view.township_body_id}"
    return (f"referral {view.referral.referral_id} was sent to {view.referral.body_id}, "
            f"not to {who.body_id or who.subject}")


def _transitions(db: Session, *, case_id: str, referral_id: str | None = None) -> list[TransitionRow]:
    query = select(TransitionRow).where(TransitionRow.case_id == case_id)
    if referral_id is not None:
        query = query.where(TransitionRow.referral_id == referral_id)
    return list(db.scalars(query.order_by(TransitionRow.sequence)))


def _transition(t: TransitionRow) -> dict[str, Any]:
    return {
        "sequence": t.sequence, "referral_id": t.referral_id, "action": t.action, "from_state": t.from_state,
        "to_state": t.to_state, "at": t.occurred_at.isoformat(), "body_id": t.body_id,
        "actor_body_id": t.actor_body_id or t.body_id, "actor": t.actor, "channel": t.channel, "reason": t.reason,
        "reason_code": t.reason_code, "outcome": t.outcome, "designated_body_id": t.designated_body_id,
        "due_by": t.due_by.isoformat() if t.due_by else None, "evidence": t.evidence or [],
        "stated_at": t.stated_at.isoformat() if t.stated_at else None,
    }


def _body_name(reference: ReferenceData, body_id: str) -> str:
    try:
        return reference.body(body_id).name
    except KeyError:
        return body_id

