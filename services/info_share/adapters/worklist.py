"""What each party of a case has to do, read from the register: referrals by state and deadline, disputes, actions.

The rules of who may act come from dispatch's lifecycle (``expected_actor``, ``allowed_from``): dispatch enforces
them when it applies an action, and the lifecycle API asks the same rules first, to answer 403 or 409 at once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.deadlines import standing
from services.common.identifiers import event_id_for
from services.common.lifecycle import COORDINATION_ACTIONS, Action, State, allowed_from, expected_actor
from services.info_share.adapters.register.tables import CaseRow, LedgerRow, ReferralRow, ReportRow
from services.info_share.domain.views import matters
from services.reference.loader import ReferenceData

# The words a handling unit's screen uses (12345 work orders, 數字城管).
STATE_LABELS = {
    "issued": "待签收", "accepted": "已签收", "handling": "办理中", "result_fed_back": "已反馈",
    "verified": "核查通过", "closed": "已结案", "returned": "已退回", "decided": "已指定管辖",
}
DISPUTE_LABEL = "待裁定"  # an issued dispute referral: county coordination is to decide it
# States in which a referral waits for its receiving body, and for the reporting township.
BODY_WAITING = frozenset({State.ISSUED, State.ACCEPTED, State.HANDLING})
TOWNSHIP_WAITING = frozenset({State.RESULT_FED_BACK, State.VERIFIED})


@dataclass(frozen=True)
class ReferralView:
    referral: ReferralRow
    case: CaseRow

    @property
    def township_body_id(self) -> str:
        return f"township:{self.case.township_code}"

    @property
    def state(self) -> State:
        return State(self.referral.state)

    @property
    def is_dispute(self) -> bool:
        return self.referral.body_id.startswith("coordination:")

    def actions_for(self, acting_as: Collection[str]) -> list[str]:
        """The actions one of ``acting_as`` may take now (state and actor both allow them)."""
        return [action.value for action in Action if self.actor_for(action, acting_as) is not None
                and self.state in allowed_from(action) and self._applies(action)]

    def actor_for(self, action: Action, acting_as: Collection[str]) -> str | None:
        expected = expected_actor(action, self.referral.body_id, self.township_body_id)
        return expected if expected in acting_as else None

    def _applies(self, action: Action) -> bool:
        if self.is_dispute:
            return action in COORDINATION_ACTIONS
        if action is Action.DECIDE:
            return False
        if action is Action.EXTEND:
            return not self.referral.extended
        if action is Action.RETURN:
            return not self.referral.designated
        return True

    def deadline(self) -> datetime | None:
        """The deadline that runs now: to sign for (or decide), or to feed back again after a rework."""
        if self.state is State.ISSUED:
            return self.referral.accept_by
        if self.state in (State.ACCEPTED, State.HANDLING) and self.referral.feedback_by is not None:
            return self.referral.feedback_by
        return None


def referral_view(session: Session, referral_id: str) -> ReferralView | None:
    row = session.get(ReferralRow, referral_id)
    if row is None:
        return None
    case = session.get(CaseRow, row.case_id)
    return ReferralView(row, case) if case is not None else None


def worklist(session: Session, *, acting_as: Collection[str], county_scope: str | None, state: str | None,
             category: str | None, needs_action: bool, limit: int) -> list[ReferralView]:
    """Referrals the caller receives, plus those of its townships' cases; sorted by the deadline that runs."""
    townships = [b.split(":", 1)[1] for b in acting_as if b.startswith("township:")]
    whose = [ReferralRow.body_id.in_(list(acting_as))]
    if townships:
        whose.append(CaseRow.township_code.in_(townships))
    query = (select(ReferralRow, CaseRow).join(CaseRow, CaseRow.case_id == ReferralRow.case_id)
             .where(or_(*whose)))
    if state:
        query = query.where(ReferralRow.state == state)
    if category:
        query = query.where(CaseRow.category_code == category)
    views = [ReferralView(r, c) for r, c in session.execute(query.order_by(ReferralRow.accept_by).limit(5000))]
    if needs_action:
        views = [v for v in views if v.actions_for(acting_as)]
    views.sort(key=_urgency)
    return views[:limit]


def _urgency(view: ReferralView) -> tuple[bool, datetime, datetime]:
    deadline = view.deadline()  # the ones with a running deadline first, the nearest first
    return (deadline is None, deadline or view.referral.accept_by, view.referral.issued_at)


def disputes(session: Session, *, county: str, now: datetime, limit: int) -> dict[str, list[ReferralView]]:
    """County coordination's desk: disputes to decide, and every overdue referral of the county's bodies."""
    open_disputes = session.execute(
        select(ReferralRow, CaseRow).join(CaseRow, CaseRow.case_id == ReferralRow.case_id)
        .where(ReferralRow.body_id == f"coordination:{county}", ReferralRow.state == State.ISSUED.value)
        .order_by(ReferralRow.accept_by).limit(limit))
    overdue = session.execute(
        select(ReferralRow, CaseRow).join(CaseRow, CaseRow.case_id == ReferralRow.case_id)
        .where(CaseRow.county_code == county, ReferralRow.state == State.ISSUED.value,
               ReferralRow.accept_by < now)
        .order_by(ReferralRow.accept_by).limit(limit))
    return {"disputes": [ReferralView(r, c) for r, c in open_disputes],
            "overdue": [ReferralView(r, c) for r, c in overdue]}


def card(view: ReferralView, *, reference: ReferenceData, acting_as: Collection[str], now: datetime
         ) -> dict[str, Any]:
    """One work-order card: what, where, which power-list entry, the state in words and the deadline standing."""
    r, case = view.referral, view.case
    township = reference.townships.get(case.township_code)
    category = reference.categories.get(case.category_code)
    deadline = view.deadline()
    flag = standing(deadline, now) if deadline is not None else None
    label = DISPUTE_LABEL if view.is_dispute and view.state is State.ISSUED else STATE_LABELS.get(r.state, r.state)
    return {
        "referral_id": r.referral_id, "case_id": r.case_id, "body_id": r.body_id, "attempt": r.attempt,
        "state": r.state, "state_label": label, "dispute": view.is_dispute, "designated": r.designated,
        "township_code": case.township_code, "township_name": township.name if township else None,
        "county_code": case.county_code, "category_code": case.category_code,
        "category_name": category.name if category else None, "routing_rule": r.routing_rule,
        "power_list_entry": r.routing_detail, "issued_at": r.issued_at.isoformat(),
        "accept_by": r.accept_by.isoformat(), "feedback_by": r.feedback_by.isoformat() if r.feedback_by else None,
        "deadline": deadline.isoformat() if deadline else None,
        "deadline_flag": flag.flag if flag else None, "deadline_label": flag.label if flag else None,
        "working_days": flag.working_days if flag else None, "extended": r.extended, "reworks": r.reworks,
        "outcome": r.outcome, "actions": view.actions_for(acting_as),
    }


def matters_of(session: Session, case: CaseRow) -> list[dict[str, Any]]:
    """The case's matters (the categories its reports call for) and the body handling each: its lead."""
    categories = session.scalars(select(ReportRow.category_code).where(ReportRow.case_id == case.case_id)
                                 .order_by(ReportRow.sequence))
    return matters(case.lead_body_id, categories)


def related_card(case: CaseRow, *, reference: ReferenceData) -> dict[str, Any]:
    category = reference.categories.get(case.category_code)
    try:
        body_name: str | None = reference.body(case.lead_body_id).name
    except KeyError:
        body_name = None
    return {"case_id": case.case_id, "category_code": case.category_code,
            "category_name": category.name if category else None, "lead_body_id": case.lead_body_id,
            "lead_body_name": body_name, "status": case.status}


def verdict(session: Session, response_id: str) -> LedgerRow | None:
    """Dispatch's answer to an action, once the register has it: the transition, or the refusal."""
    ids = [event_id_for("case_transitioned", response_id), event_id_for("response_rejected", response_id)]
    return session.scalar(select(LedgerRow).where(LedgerRow.event_id.in_(ids)))
