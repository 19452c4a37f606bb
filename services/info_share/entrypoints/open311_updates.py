"""Open311 ``servicerequestupdates`` (mySociety's extension): an external work-order system reports progress.

A county team or dispatched agency that runs its own work-order system (a 12345 platform, 數字城管) does not use
liandong's screens: it posts each change of its work order here, in the standard way, with the API key liandong gave
it. The key names the one body the system answers for (``LIANDONG_WORK_ORDER_API_KEYS``); what the post says can
never name another. Each update becomes one lifecycle action on that body's referral of the request's case, taken
through the same action desk as the lifecycle API: the same rules, the same 403 / 409, the same wait for dispatch.

``service_request_id`` is the Open311 id the request has everywhere (the finding id); ``update_id`` is the system's
id for the update and may be used once: a repeated one is refused (409), and never acts twice.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures.

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schemas.events import Channel, ReferralOutcome, ReturnReason
from services.common.lifecycle import Action
from services.common.principal import Principal
from services.common.responses import response_id_for
from services.info_share.adapters.register.tables import ReferralRow, ReportRow
from services.info_share.auth import AuthError, caller_from_work_order_key
from services.info_share.entrypoints.deps import State as AppState
from services.info_share.entrypoints.errors import refuse
from services.info_share.service import EARLIEST, LATEST, ActionDesk, ActionDetails, Refused, Verdict

# mySociety's update statuses → the lifecycle step they report, and its default detail. A system's own
# ``external_status_code`` may refine it: an outcome for a result (penalty_decided, rectified, no_violation,
# transferred_to_judiciary), a return reason for a return (wrong_place, overlapping_duties, …).
STATUS_STEPS: dict[str, tuple[Action, ReferralOutcome | ReturnReason | None]] = {
    "investigating": (Action.ACCEPT, None),  # signed for, looking into it (签收)
    "action_scheduled": (Action.ACCEPT, None),
    "in_progress": (Action.START_HANDLING, None),  # 办理中
    "fixed": (Action.FEED_BACK, ReferralOutcome.RECTIFIED),  # result fed back (处理反馈)
    "closed": (Action.FEED_BACK, ReferralOutcome.RECTIFIED),
    "no_further_action": (Action.FEED_BACK, ReferralOutcome.NO_VIOLATION),
    "not_councils_responsibility": (Action.RETURN, ReturnReason.NOT_OUR_DUTY),  # 退回：不属本部门职责
    "internal_referral": (Action.RETURN, ReturnReason.OVERLAPPING_DUTIES),
}
UPDATE_ACTIONS = frozenset(action for action, _ in STATUS_STEPS.values())


def update_key(update_id: str) -> str:
    return f"open311-update:{update_id}"


router = APIRouter(tags=["open311"])


def refused(request: Request, status: int, error: str, detail: str, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    audited = refuse(request, status, error, detail, headers or {})  # audited as every refusal is
    return JSONResponse([{"code": status, "description": detail}], status_code=status,
                        headers={k: v for k, v in audited.headers.items()
                                 if k.lower() in ("x-request-id", "retry-after")})


@router.post("/open311/v2/servicerequestupdates.json",
             responses={400: {"description": "a field is missing or not understood"},
                        403: {"description": "invalid api_key, or not the key's body's referral (audited)"},
                        404: {"description": "no such service request"},
                        409: {"description": "update_id used before, or the referral's state does not allow it"},
                        503: {"description": "the broker did not take it; retry later with the same update_id"}})
async def post_update(
    request: Request,
    parts: AppState,
    api_key: Annotated[str, Form(max_length=256)],
    service_request_id: Annotated[str, Form(min_length=1, max_length=64)],
    update_id: Annotated[str, Form(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")],
    updated_datetime: Annotated[AwareDatetime, Form()],
    status: Annotated[str, Form(max_length=40)],
    description: Annotated[str | None, Form(max_length=2000)] = None,
    external_status_code: Annotated[str | None, Form(max_length=40)] = None,
    media_url: Annotated[str | None, Form(max_length=1000, pattern=r"^https?://")] = None,
) -> JSONResponse:
    """Report one change of a work order: ``status`` (investigating, action_scheduled → 签收; in_progress →
    办理中; fixed, closed, no_further_action → 处理反馈; not_councils_responsibility, internal_referral → 退回),
    refined by ``external_status_code`` (an outcome or a return reason). The body acting is the one the api_key
    names; the action's time is liandong's receive time, ``updated_datetime`` is recorded as stated."""
    try:
        who = caller_from_work_order_key(api_key, parts.work_order_keys)
    except AuthError as exc:
        return refused(request, exc.status, "forbidden", exc.reason)
    request.state.caller = who
    if not EARLIEST <= updated_datetime <= LATEST:
        return refused(request, 400, "invalid", f"updated_datetime must be between {EARLIEST.year} and "
                                                f"{LATEST.year}")
    step = STATUS_STEPS.get(status)
    if step is None:
        return refused(request, 400, "invalid", f"status {status!r} names no step of a referral; one of "
                                                f"{', '.join(sorted(STATUS_STEPS))}")
    action, default = step
    try:
        details = _details(action, default, external_status_code, description, media_url, updated_datetime)
    except ValueError as exc:
        return refused(request, 400, "invalid", str(exc))
    try:
        referral_id = _referral_of(parts.sessions, service_request_id, who)
        if _update_id_used(parts.desk, who, referral_id, update_id):
            return refused(request, 409, "conflict", f"update_id {update_id} was used before")
        verdict = await parts.desk.act(who, referral_id, action, details, key=update_key(update_id),
                                       channel=Channel.OPEN311)
    except Refused as exc:
        return refused(request, 400 if exc.status == 422 else exc.status, exc.error, exc.detail,
                       {"Retry-After": "1"} if exc.status == 503 else None)
    return _as_open311(verdict)


def _details(action: Action, default: ReferralOutcome | ReturnReason | None, code: str | None,
             description: str | None, media_url: str | None, stated_at: datetime) -> ActionDetails:
    evidence = (media_url,) if media_url else ()
    if action is Action.FEED_BACK:
        outcome = _member(ReferralOutcome, code, "an outcome") if code else default
        return ActionDetails(stated_at=stated_at, reason=description, outcome=outcome, evidence=evidence)  # type: ignore[arg-type]
    if action is Action.RETURN:
        reason_code = _member(ReturnReason, code, "a return reason") if code else default
        if reason_code is ReturnReason.OTHER and not description:
            raise ValueError("a return with external_status_code other needs a description saying why")
        return ActionDetails(stated_at=stated_at, reason=description, reason_code=reason_code)  # type: ignore[arg-type]
    if code:
        raise ValueError(f"external_status_code has no meaning for a {action.value}")
    return ActionDetails(stated_at=stated_at, reason=description, evidence=evidence)


def _member(kind: type[ReferralOutcome] | type[ReturnReason], code: str, what: str) -> ReferralOutcome | ReturnReason:
    try:
        return kind(code)
    except ValueError:
        raise ValueError(f"external_status_code {code!r} is not {what}: one of "
                         f"{', '.join(m.value for m in kind)}") from None


def _referral_of(sessions: sessionmaker[Session], service_request_id: str, who: Principal) -> str:
    """The referral of the request's case that the key's body holds: its latest, the one it answers now."""
    with sessions() as db:
        case_id = db.scalar(select(ReportRow.case_id).where(ReportRow.finding_id == service_request_id))
        if case_id is None:
            raise Refused(404, "not_found", f"no service request {service_request_id}")
        referral_id = db.scalar(select(ReferralRow.referral_id)
                                .where(ReferralRow.case_id == case_id, ReferralRow.body_id.in_(who.body_ids))
                                .order_by(ReferralRow.issued_at.desc(), ReferralRow.attempt.desc()).limit(1))
    if referral_id is None:
        raise Refused(403, "forbidden", f"service request {service_request_id} is not referred to "
                                        f"{', '.join(sorted(who.body_ids))}")
    return str(referral_id)


def _update_id_used(desk: ActionDesk, who: Principal, referral_id: str, update_id: str) -> bool:
    """Whether an action under this update_id is known, whatever step it reported (the step is part of its id)."""
    return any(desk.verdict(response_id_for(body, referral_id, action.value, update_key(update_id))).status != "pending"
               for body in who.body_ids for action in UPDATE_ACTIONS)


def _as_open311(verdict: Verdict) -> JSONResponse:
    if verdict.status == "refused":
        return JSONResponse([{"code": verdict.http_status, "description": verdict.payload.get("detail", "")}],
                            status_code=400 if verdict.http_status == 422 else verdict.http_status)
    answer = {"update_id": verdict.action_id, "status": verdict.status}
    if verdict.status == "applied":
        answer["to_state"] = str(verdict.payload.get("to_state"))
    return JSONResponse([answer], status_code=202 if verdict.status == "pending" else 200)
