"""Evaluation figures per receiving body and per township (綜合評價, in the manner of GB/T 30428.4).

Per body, over the referrals it was sent: received, accepted, returned, closed, still unanswered; acceptance time
(issue → accept); on-time signing rate (answered — accepted or returned — by the acceptance deadline, over every
referral that was answered or whose deadline has passed); extensions, overdue warnings, reworks ordered by the
township (and the verification pass rate that follows); time from issue to feed-back and to closure; duplicate
reports merged into the cases it was sent. Every figure counts transitions that happened, as the register has them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ReferralRecord:
    referral_id: str
    case_id: str
    body_id: str
    township_code: str
    issued_at: datetime
    accept_by: datetime
    state: str
    accepted_at: datetime | None = None
    returned_at: datetime | None = None
    closed_at: datetime | None = None
    fed_back_at: datetime | None = None
    extended: bool = False
    overdue_at: datetime | None = None
    reworks: int = 0


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    township_code: str
    status: str
    report_count: int
    handled_locally: bool = False


@dataclass(frozen=True)
class BodyFigures:
    body_id: str
    received: int
    accepted: int
    returned: int
    closed: int
    unanswered: int
    due: int  # answered, or unanswered past the deadline
    on_time: int
    on_time_rate: float | None  # None when nothing is due yet
    acceptance_seconds_mean: float | None
    acceptance_seconds_median: float | None
    duplicates_merged: int
    extensions: int = 0
    overdue: int = 0  # referrals warned overdue (red card), whether answered later or not
    reworks: int = 0  # results the township sent back (驳回重办)
    fed_back: int = 0
    verification_pass_rate: float | None = None  # closed without rework, over closed
    feedback_seconds_median: float | None = None  # issue → (last) feed-back
    close_seconds_median: float | None = None  # issue → closed


@dataclass(frozen=True)
class TownshipFigures:
    township_code: str
    cases_reported: int
    reports: int
    duplicates_merged: int
    handled_locally: int
    closed: int
    open: int


def body_figures(referrals: Iterable[ReferralRecord], cases: Iterable[CaseRecord], now: datetime) -> list[BodyFigures]:
    merged = {c.case_id: max(0, c.report_count - 1) for c in cases}
    by_body: dict[str, list[ReferralRecord]] = defaultdict(list)
    for referral in referrals:
        by_body[referral.body_id].append(referral)
    return [_body(body_id, items, merged, now) for body_id, items in sorted(by_body.items())]


def township_figures(cases: Iterable[CaseRecord]) -> list[TownshipFigures]:
    by_township: dict[str, list[CaseRecord]] = defaultdict(list)
    for case in cases:
        by_township[case.township_code].append(case)
    return [
        TownshipFigures(
            township_code=code, cases_reported=len(items), reports=sum(c.report_count for c in items),
            duplicates_merged=sum(max(0, c.report_count - 1) for c in items),
            handled_locally=sum(1 for c in items if c.handled_locally),
            closed=sum(1 for c in items if c.status == "closed"),
            open=sum(1 for c in items if c.status != "closed"),
        )
        for code, items in sorted(by_township.items())
    ]


def _body(body_id: str, items: list[ReferralRecord], merged: dict[str, int], now: datetime) -> BodyFigures:
    waits = [(r.accepted_at - r.issued_at).total_seconds() for r in items if r.accepted_at is not None]
    to_feedback = [(r.fed_back_at - r.issued_at).total_seconds() for r in items if r.fed_back_at is not None]
    to_close = [(r.closed_at - r.issued_at).total_seconds() for r in items if r.closed_at is not None]
    closed = [r for r in items if r.closed_at is not None]
    due = on_time = unanswered = 0
    for r in items:
        answered_at = r.accepted_at or r.returned_at
        if answered_at is None:
            unanswered += 1
            due += now > r.accept_by
        else:
            due += 1
            on_time += answered_at <= r.accept_by
    return BodyFigures(
        body_id=body_id, received=len(items), accepted=sum(1 for r in items if r.accepted_at is not None),
        returned=sum(1 for r in items if r.returned_at is not None),
        closed=sum(1 for r in items if r.closed_at is not None), unanswered=unanswered, due=due, on_time=on_time,
        on_time_rate=on_time / due if due else None,
        acceptance_seconds_mean=statistics.fmean(waits) if waits else None,
        acceptance_seconds_median=statistics.median(waits) if waits else None,
        duplicates_merged=sum(merged.get(case_id, 0) for case_id in {r.case_id for r in items}),
        extensions=sum(1 for r in items if r.extended),
        overdue=sum(1 for r in items if r.overdue_at is not None),
        reworks=sum(r.reworks for r in items), fed_back=sum(1 for r in items if r.fed_back_at is not None),
        verification_pass_rate=sum(1 for r in closed if r.reworks == 0) / len(closed) if closed else None,
        feedback_seconds_median=statistics.median(to_feedback) if to_feedback else None,
        close_seconds_median=statistics.median(to_close) if to_close else None,
    )
