"""The lifecycle API: receiving bodies, townships and county coordination act on referrals, as their token says.

The checks, the broker and the wait for dispatch's verdict are the action desk's (services/info_share/service.py);
this module gives them routes, request models and HTTP answers: 200 applied, dispatch's refusal with its status,
202 with a status URL while the verdict is pending.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response
from fastapi import Path as FastApiPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.bounds import Instant
from schemas.events import Channel, EvidenceLink, ReferralOutcome, ReturnReason
from services.common.lifecycle import Action, State
from services.info_share.adapters import queries, worklist
from services.info_share.adapters.register.tables import TransitionRow
from services.info_share.domain.audience import sees_figures_of_all
from services.info_share.entrypoints.deps import DbSession, Official
from services.info_share.entrypoints.deps import State as AppState
from services.info_share.service import EARLIEST, LATEST, ActionDetails, Refused, Verdict, entitled
from services.reference.loader import ReferenceData

# Action ids are uuid5 strings (services.common.responses.response_id_for).
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ActionId = Annotated[str, FastApiPath(max_length=36, pattern=UUID_PATTERN)]
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


router = APIRouter(tags=["lifecycle"])


@router.get("/v1/referrals")
def my_referrals(db: DbSession, parts: AppState, who: Official,
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
    return {"referrals": [worklist.card(v, reference=parts.reference, acting_as=who.body_ids, now=now)
                          for v in views]}


@router.get("/v1/referrals/{referral_id}")
def one_referral(db: DbSession, parts: AppState, who: Official, referral_id: str) -> dict[str, Any]:
    """One referral's card and its own timeline, for the parties of its case."""
    view = parts.desk.entitled_view(db, who, referral_id)
    answer = worklist.card(view, reference=parts.reference, acting_as=who.body_ids, now=datetime.now(UTC))
    answer["timeline"] = [_transition(t) for t in queries.transitions(db, case_id=view.case.case_id,
                                                                      referral_id=referral_id)]
    # Every matter this case handles, and the other matters at the same place with the bodies handling them:
    # a body enforcing here sees who else enforces here (一事不再罰 is kept by talking to them).
    answer["matters"] = worklist.matters_of(db, view.case)
    answer["related_cases"] = [worklist.related_card(c, reference=parts.reference)
                               for c in queries.related_cases(db, case_ids=[view.case.case_id])
                               .get(view.case.case_id, [])]
    return answer


@router.get("/v1/cases/{case_id}/timeline")
def timeline(db: DbSession, who: Official, case_id: str) -> dict[str, Any]:
    """Every transition of every referral of the case: who, when, why. For the parties of the case, its
    county's coordination and supervisors."""
    bundle = queries.case_bundle(db, case_id=case_id)
    if bundle is None:
        raise HTTPException(404, f"no case {case_id}")
    if not entitled(who, bundle.party_ids, bundle.case.county_code):
        raise Refused(403, "forbidden", f"{who.subject} is not a party to case {case_id}")
    return {"case_id": case_id, "status": bundle.case.status,
            "previous_case_id": bundle.case.previous_case_id,
            "transitions": [_transition(t) for t in queries.transitions(db, case_id=case_id)]}


@router.get("/v1/coordination/disputes")
def coordination_desk(db: DbSession, parts: AppState, who: Official,
                      limit: Annotated[int, Query(ge=1, le=500)] = 200) -> dict[str, Any]:
    """County coordination: disputes to decide (5 working days) and overdue referrals of its county."""
    county = who.county_scope
    if county is None:
        raise Refused(403, "forbidden", "the coordination desk is for a county coordination body's token")
    now = datetime.now(UTC)
    desk = worklist.disputes(db, county=county, now=now, limit=limit)
    return {name: [worklist.card(v, reference=parts.reference, acting_as=who.body_ids, now=now) for v in views]
            for name, views in desk.items()}


@router.get("/v1/actions/{action_id}")
def action_status(parts: AppState, who: Official, action_id: ActionId) -> JSONResponse:
    """Where an action stands: applied, refused (with why), or pending (dispatch has not answered yet)."""
    return as_json(parts.desk.verdict(action_id))


@router.get("/v1/stats/evaluation.csv", response_class=Response)
def evaluation_csv(db: DbSession, parts: AppState, who: Official) -> Response:
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
        writer.writerow({"body_name": _body_name(parts.reference, figures.body_id), **row})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="evaluation.csv"'})


def _action_route(action: Action, model: type[ActionBody]) -> Callable[..., Any]:
    async def act(request: Request, parts: AppState, who: Official, referral_id: str,
                  body: Annotated[model, Body()] = None,  # type: ignore[valid-type]
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
        details = body if body is not None else _empty_body(model)
        return as_json(await parts.desk.act(who, referral_id, action, _details(details), key=idempotency_key,
                                            channel=Channel.HTTP))
    act.__doc__ = ROUTES_DOC.get(action, "")
    return act


def _empty_body(model: type[ActionBody]) -> ActionBody:
    """No body is an empty one: fine for an action without required fields, a 422 naming them otherwise."""
    try:
        return model.model_validate({})
    except ValidationError as exc:
        missing = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise Refused(422, "invalid", f"body: required fields missing: {missing}") from None


ROUTES_DOC = {action: doc for action, _model, doc in ROUTES.values()}

for _segment, (_action, _model, _summary) in ROUTES.items():
    router.add_api_route(f"/v1/referrals/{{referral_id}}/{_segment}", _action_route(_action, _model),
                         methods=["POST"], summary=_summary, name=f"referral_{_segment}",
                         responses={403: {"description": "not the caller's to do (audited)"},
                                    409: {"description": "the referral's state does not allow it now"},
                                    422: {"description": "invalid details"},
                                    503: {"description": "the broker did not take it; retry with the same key"}})


def _details(body: ActionBody) -> ActionDetails:
    return ActionDetails(
        stated_at=body.stated_at, reason=getattr(body, "reason", None) or getattr(body, "note", None),
        reason_code=getattr(body, "reason_code", None), outcome=getattr(body, "outcome", None),
        designated_body_id=getattr(body, "body_id", None), due_by=getattr(body, "due_by", None),
        evidence=tuple(getattr(body, "evidence", ()) or ()))


def as_json(verdict: Verdict) -> JSONResponse:
    if verdict.status == "pending":
        url = f"/v1/actions/{verdict.action_id}"
        return JSONResponse({"status": "pending", "action_id": verdict.action_id, "status_url": url},
                            status_code=202, headers={"Location": url})
    return JSONResponse({"status": verdict.status, "action_id": verdict.action_id, **verdict.payload},
                        status_code=verdict.http_status)


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

