"""Turn dispatch's outgoing events and durable tables into metrics; no decisions are made here."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from prometheus_client import Counter

from schemas.events import CaseOpened, CaseTransitioned, FindingMerged, ReferralIssued, WireModel
from services.common.deadlines import is_overdue
from services.dispatch.adapters import metrics
from services.dispatch.service import REFERRALS_TABLE, Dispatcher

FIRST_ANSWERS = {"accept": "accepted", "return": "returned"}


def _county(body_id: str) -> str:
    # Body ids carry their county or township code: team:<county>:…, agency:<township>:…, coordination:<county>.
    return body_id.split(":")[1][:6] if ":" in body_id else ""


def _department(body_id: str) -> str:
    parts = body_id.split(":")
    return parts[2] if parts[0] in ("team", "agency") and len(parts) > 2 else parts[0]


@lru_cache(maxsize=65_536)
def _counter(counter: Counter, *labels: str) -> Counter:
    # One labelled child per label set, looked up once: ``labels()`` takes a lock and builds a tuple on every call,
    # and this runs for every event. Counters are never cleared, so a cached child stays the registered one.
    return counter.labels(*labels)


def record(model: WireModel, dispatcher: Dispatcher) -> None:
    """Count one published event (called once per event first published, not for replays)."""
    _counter(metrics.EVENTS_EMITTED, getattr(model, "event", type(model).__name__)).inc()
    counted = _RECORDERS.get(type(model))
    if counted is not None:
        counted(model, dispatcher)


def _opened(model: CaseOpened, _dispatcher: Dispatcher) -> None:
    f = model.finding
    _counter(metrics.CASES_OPENED, f.county_code, f.township_code, model.routing.rule).inc()


def _merged(model: FindingMerged, _dispatcher: Dispatcher) -> None:
    f = model.finding
    _counter(metrics.FINDINGS_MERGED, f.county_code, f.township_code, model.rule).inc()


def _issued(model: ReferralIssued, _dispatcher: Dispatcher) -> None:
    _counter(metrics.REFERRALS_ISSUED, _county(model.body_id), model.body_id, _department(model.body_id)).inc()


def _transitioned(model: CaseTransitioned, dispatcher: Dispatcher) -> None:
    county = _county(model.body_id)
    metrics.TRANSITIONS.labels(county, model.body_id, model.action.value).inc()
    answer = FIRST_ANSWERS.get(model.action.value)
    stored = dispatcher.tables[REFERRALS_TABLE].get(model.referral_id)
    if answer and stored is not None:
        late = is_overdue(datetime.fromisoformat(stored["accept_by"]), model.occurred_at)
        metrics.ANSWERS.labels(county, model.body_id, answer, "late" if late else "on_time").inc()


# The events with counters of their own, and who counts them (the others count only in EVENTS_EMITTED).
_RECORDERS: dict[type, Callable[[Any, Dispatcher], None]] = {
    CaseOpened: _opened, FindingMerged: _merged, ReferralIssued: _issued, CaseTransitioned: _transitioned,
}


def refresh_gauges(dispatcher: Dispatcher, now: datetime) -> None:
    """Set open cases and open/overdue referrals from the tallies the dispatcher keeps with its tables (its
    partitions only): no scan of the state, whatever its size."""
    open_cases: Tally[tuple[str, str]] = Tally()
    for township, count in dispatcher.index.open_per_township().items():
        if township:  # "": cases restored from rows written before the township was kept in them; not labelled
            open_cases[(township[:6], township)] += count
    # Replace whole series sets: a township whose last case closed must drop to nothing, not keep its old count.
    metrics.OPEN_CASES.clear()
    for (county, township), count in open_cases.items():
        metrics.OPEN_CASES.labels(county, township).set(count)
    metrics.REFERRALS_OPEN.clear()
    for (body, state), count in dispatcher.open_referrals.items():
        if count:
            metrics.REFERRALS_OPEN.labels(_county(body), body, state).set(count)
    metrics.REFERRALS_OVERDUE.clear()
    for body, count in dispatcher.overdue_per_body(now).items():
        metrics.REFERRALS_OVERDUE.labels(_county(body), body).set(count)
