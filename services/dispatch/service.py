"""Dispatch's service layer: findings and responses in, events out. Durable state is plain dict-like tables.

No Kafka here: the worker (``worker.py``) decodes, calls ``Dispatcher`` and publishes what it returns; tests drive
it directly. Every output is derived from the input and the tables only — event times are the finding's trusted
receive time or the response's time, ids are uuid5 — so re-processing an event after a crash emits identical events,
which consumers drop by id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from schemas.events import (
    CaseOpened,
    CaseTransitioned,
    Channel,
    DeadlineCheck,
    FindingMerged,
    FindingReported,
    ReferralIssued,
    ReferralOverdue,
    ReferralResponded,
    RelatedCase,
    RelatedCaseOpened,
    ResponseRejected,
    RoutingExplanation,
    StateSweep,
    WireModel,
)
from services.common.deadlines import DeadlinePolicy, is_overdue
from services.common.identifiers import (
    InvalidSubject,
    case_id_for,
    event_id_for,
    normalise_subject,
    referral_id_for,
)
from services.common.lifecycle import (
    COORDINATION_PREFIX,
    EscalateToCoordination,
    IllegalTransition,
    Referral,
    Refusal,
    State,
    next_step_after_decision,
    next_step_after_return,
)
from services.dispatch.domain import dedup
from services.dispatch.domain.due_index import DueIndex
from services.dispatch.domain.retention import Retention
from services.dispatch.domain.routing import (
    RoutingDecision,
    RoutingMemo,
    designated_by_coordination,
    escalated_to_coordination,
    overdue_escalated_to,
    route,
)
from services.reference.loader import ReferenceData, township_office_id

Table = MutableMapping[str, Any]
CASE_FILES_TABLE = "case_files"  # case_id -> the opening finding and routing facts, for re-routing after a return
REFERRALS_TABLE = "referrals"  # referral_id -> Referral.to_dict()
OVERDUE_TABLE = "overdue_notices"  # referral_id -> {"deadline": iso}: the overdue warning already given
# A trusted clock may run this far ahead of dispatch's own; a command dated further ahead was not written by one.
CLOCK_SKEW = timedelta(minutes=5)


class ForgedCommand(Exception):
    """An internal command dispatch itself cannot have written (its time is ahead of dispatch's clock)."""


@dataclass(frozen=True)
class Outgoing:
    """One event to publish: on the case-events topic, and for a referral also on its body's own topic."""

    event_id: str
    key: str
    model: WireModel
    referral_body_id: str | None = None
    replay: bool = False  # re-emitted for an input seen before: same id, already counted
    # Bodies whose own topics get a copy (抄送): a referral goes to the reporting township's topic too, so the
    # township that verifies and closes the case over Kafka holds the referral it acts on.
    copy_to: tuple[str, ...] = ()
    case_events: bool = True  # False: only for the body's own topic (a notice the register does not project)


class Dispatcher:
    def __init__(self, reference: ReferenceData, tables: dict[str, Table], policy: DeadlinePolicy | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), retention: Retention | None = None):
        self.reference = reference
        self.tables = tables
        self.policy = policy or DeadlinePolicy()
        self.retention = retention or Retention()
        self.clock = clock  # only to refuse commands dated in the future; decisions use the commands' own times
        self.index = dedup.DedupIndex()
        self.due = DueIndex()  # referrals that may still become overdue, by deadline: the timer reads only those
        # Kept with every write of a referral, so the gauges never scan the state: (body, state) of the referrals
        # still open (not closed or returned), and per body the issued ones whose deadline was warned about.
        self.open_referrals: Counter[tuple[str, str]] = Counter()
        self.warned_unanswered: Counter[str] = Counter()
        self._routes = RoutingMemo(reference)

    def rebuild_index(self) -> int:
        """Restore the in-memory dedup index from the durable tables (after start, recovery or rebalance)."""
        # A generator: at a million cases, a list of every decoded row would double the worker's peak memory.
        rows = (dedup.Row(table, key, value) for table in (dedup.CASES_TABLE, dedup.MEMBERS_TABLE)
                for key, value in self.tables[table].items())
        self.index = dedup.DedupIndex.restore(rows)
        self.due.clear()
        self.open_referrals.clear()
        self.warned_unanswered.clear()
        for referral_id, stored in self.tables[REFERRALS_TABLE].items():
            self._count(referral_id, stored, +1)
        return len(self.index)

    # -- findings ---------------------------------------------------------------------------------------------

    def unknown_reference(self, finding: FindingReported) -> str | None:
        """Why this finding names something the reference data lacks (then it is a dead letter), or None."""
        if finding.category_code not in self.reference.categories:
            return f"unknown category {finding.category_code!r}"
        township = self.reference.townships.get(finding.township_code)
        if township is None:
            return f"unknown township {finding.township_code!r}"
        if township.county_code != finding.county_code:
            return f"township {township.code} is not in county {finding.county_code}"
        try:
            # A finding from before the first power catalogue (an import of old records, a wrong clock) cannot be
            # routed; deciding it would raise on every redelivery and hold its partition up.
            self.reference.catalogue_in_force(finding.received_at)
        except LookupError as exc:
            return str(exc)
        for subject in finding.subjects:
            try:
                normalise_subject(subject.kind, subject.value)
            except InvalidSubject as exc:
                return str(exc)
        return None

    def on_finding(self, finding: FindingReported, dedup_group: str) -> list[Outgoing]:
        category = self.reference.categories[finding.category_code]
        # Routed before dedup decides: who is competent for this matter where it was filed is part of whether it
        # is the same violation as an open case (docs/dedup.md). Everything that can fail on bad input happens here,
        # before any state changes.
        routing = self._route(finding)
        report = dedup.Report(
            finding_id=finding.finding_id, dedup_group=dedup_group, category_code=finding.category_code,
            latitude=finding.location.latitude, longitude=finding.location.longitude,
            trusted_at=finding.received_at,
            # Patrol normalises already; findings from other producers may not have, and 辽F·12345 is 遼F12345.
            subjects=_normalised_subjects(finding),
            radius_m=category.dedup_radius_m, handled_by=(routing.lead_body_id, *routing.co_body_ids),
            township_code=finding.township_code,
        )
        decision = dedup.decide(report, self.index)
        if isinstance(decision, dedup.AlreadyDecided):
            return self._replay_decision(finding, dedup_group, decision.case_id)
        related = self._related(decision.related_case_ids) if isinstance(decision, dedup.OpenNewCase) else ()
        rows = dedup.apply(decision, report, self.index)
        if isinstance(decision, dedup.MergeIntoCase):
            rows = [self._with_merge_facts(row, decision) for row in rows]
        self._persist(rows)
        if isinstance(decision, dedup.OpenNewCase):
            out = self._open_case(finding, dedup_group, decision.case_id, decision.previous_case_id, routing,
                                  related=related)
            return out + self._tell_related(finding, out[0].model, related)
        return [self._merged(finding, decision.case_id, decision.rule, decision.distance_m)]

    def _tell_related(self, finding: FindingReported, opened: WireModel, related: tuple[RelatedCase, ...],
                      told: dict[str, str] | None = None) -> list[Outgoing]:
        """Tell each related case's current body that another matter at its place is now a case of another body.

        The bodies told are kept in the new case's file, so a replay tells the same ones the same thing."""
        assert isinstance(opened, CaseOpened)
        news = RelatedCase(case_id=opened.case_id, category_code=finding.category_code,
                           lead_body_id=opened.lead_body_id)
        if told is None:
            told = {r.case_id: self._current_body(r.case_id) or r.lead_body_id for r in related}
            if related:
                self.tables[CASE_FILES_TABLE][opened.case_id] = {**self.tables[CASE_FILES_TABLE][opened.case_id],
                                                                 "told": told}
        out = []
        for r in related:
            event = RelatedCaseOpened(event_id=event_id_for("related_case_opened", r.case_id, opened.case_id),
                                      case_id=r.case_id, occurred_at=finding.received_at, related=news)
            out.append(Outgoing(event.event_id, r.case_id, event, referral_body_id=told.get(r.case_id, r.lead_body_id),
                                case_events=False))
        return out

    def _current_body(self, case_id: str) -> str | None:
        # Attempts are numbered from 1 without gaps: the last one stored is the referral in force.
        body, attempt = None, 1
        while (stored := self.tables[REFERRALS_TABLE].get(referral_id_for(case_id, attempt))) is not None:
            body, attempt = stored["body_id"], attempt + 1
        return body

    def _related(self, case_ids: tuple[str, ...]) -> tuple[RelatedCase, ...]:
        related = []
        for case_id in case_ids:
            case = self.index.open_case(case_id)
            if case is not None and case.handled_by:
                related.append(RelatedCase(case_id=case_id, category_code=case.category_code,
                                           lead_body_id=case.handled_by[0]))
        return tuple(related)

    def _route(self, finding: FindingReported) -> RoutingDecision:
        return self._routes.route(finding.township_code, finding.category_code, finding.received_at)

    def _with_merge_facts(self, row: dedup.Row, decision: dedup.MergeIntoCase) -> dedup.Row:
        # The membership row also keeps why it merged, so a replay re-emits the same FindingMerged.
        if row.table == dedup.MEMBERS_TABLE and row.value is not None:
            return dedup.Row(row.table, row.key, {**row.value, "rule": decision.rule,
                                                  "distance_m": decision.distance_m})
        return row

    def _replay_decision(self, finding: FindingReported, dedup_group: str, case_id: str) -> list[Outgoing]:
        if case_id == case_id_for(finding.finding_id):
            if case_id not in self.tables[CASE_FILES_TABLE]:
                return []  # closed, and its files dropped after their retention: the decision was published then
            file = self.tables[CASE_FILES_TABLE][case_id]
            # The related cases as they were when the case opened: the index may have moved on since.
            related = tuple(RelatedCase.model_validate(r) for r in file.get("related_cases") or ())
            out = self._open_case(finding, dedup_group, case_id, file.get("previous_case_id"), replay=True,
                                  related=related)
            out += self._tell_related(finding, out[0].model, related, told=file.get("told") or {})
        else:
            member = self.tables[dedup.MEMBERS_TABLE].get(finding.finding_id) or {}
            out = [self._merged(finding, case_id, member.get("rule", dedup.RULE_WITHIN_RADIUS),
                                float(member.get("distance_m", 0.0)))]
        return [replace(o, replay=True) for o in out]

    def _merged(self, finding: FindingReported, case_id: str, rule: str, distance_m: float) -> Outgoing:
        event = FindingMerged(
            event_id=event_id_for("finding_merged", finding.finding_id), case_id=case_id,
            occurred_at=finding.received_at, finding=finding, rule=rule, distance_m=distance_m,
        )
        return Outgoing(event.event_id, case_id, event)

    def _open_case(self, finding: FindingReported, dedup_group: str, case_id: str, previous_case_id: str | None,
                   decision: RoutingDecision | None = None, replay: bool = False,
                   related: tuple[RelatedCase, ...] = ()) -> list[Outgoing]:
        decision = decision or self._route(finding)
        explanation = _explain(decision)
        opened = CaseOpened(
            event_id=event_id_for("case_opened", case_id), case_id=case_id, occurred_at=finding.received_at,
            finding=finding, dedup_group=dedup_group, lead_body_id=decision.lead_body_id,
            co_body_ids=tuple(decision.co_body_ids), routing=explanation, previous_case_id=previous_case_id,
            related_cases=related,
        )
        if not replay:
            self.tables[CASE_FILES_TABLE][case_id] = {
                "finding": finding.model_dump(mode="json"), "dedup_group": dedup_group,
                "previous_case_id": previous_case_id,
                "major": decision.major,
                "related_cases": [r.model_dump(mode="json") for r in related],
            }
        # Every case gets a referral, a matter delegated to the township too (routing.route names the township office
        # as its lead): it runs the same lifecycle (sign for, handle, feed back, verify and close), so every case can
        # be closed and evaluated.
        out = [Outgoing(opened.event_id, case_id, opened)]
        out.append(self._issue(case_id, finding, dedup_group, decision, explanation, attempt=1, replay=replay,
                               related=related))
        return out

    def _issue(self, case_id: str, finding: FindingReported, dedup_group: str, decision: RoutingDecision,
               explanation: RoutingExplanation, attempt: int, replay: bool, issued_at: datetime | None = None,
               designated: bool = False, related: tuple[RelatedCase, ...] | None = None) -> Outgoing:
        issued_at = issued_at or finding.received_at
        referral_id = referral_id_for(case_id, attempt)
        stored = self.tables[REFERRALS_TABLE].get(referral_id)
        if stored is not None:
            referral = Referral.from_dict(stored)
        else:
            referral = Referral.issue(
                case_id=case_id, body_id=decision.lead_body_id,
                township_body_id=township_office_id(finding.township_code), attempt=attempt, issued_at=issued_at,
                major=decision.major, policy=self.policy, designated=designated,
            )
            if not replay:
                self._store_referral(referral)
        issued = ReferralIssued(
            event_id=event_id_for("referral_issued", referral_id), case_id=case_id, occurred_at=referral.issued_at,
            referral_id=referral_id, body_id=referral.body_id, co_body_ids=tuple(decision.co_body_ids),
            township_code=finding.township_code, category_code=finding.category_code, routing=explanation,
            accept_by=referral.accept_by, finding=finding, attempt=attempt, dedup_group=dedup_group,
            designated=referral.designated,
            # A later referral of the case (after a return or a decision) names the same related cases.
            related_cases=related if related is not None else self._related_of_file(case_id),
        )
        township = referral.township_body_id
        return Outgoing(issued.event_id, case_id, issued, referral_body_id=referral.body_id,
                        copy_to=(township,) if township != referral.body_id else ())

    def _related_of_file(self, case_id: str) -> tuple[RelatedCase, ...]:
        file = self.tables[CASE_FILES_TABLE].get(case_id) or {}
        return tuple(RelatedCase.model_validate(r) for r in file.get("related_cases") or ())

    # -- responses from receiving bodies ----------------------------------------------------------------------

    def on_response(self, response: ReferralResponded) -> list[Outgoing]:
        stored = self.tables[REFERRALS_TABLE].get(response.referral_id)
        if stored is None or stored["case_id"] != response.case_id:
            return [self._rejected(response, f"no referral {response.referral_id} for case {response.case_id}",
                                   "not_found")]
        referral = Referral.from_dict(stored)
        if response.responded_at > self.clock() + CLOCK_SKEW:
            return [self._rejected(response, f"responded_at {response.responded_at.isoformat()} is in the future",
                                   Refusal.INVALID, referral.state.value)]
        problem = self._designation_problem(response, referral)
        if problem:
            return [self._rejected(response, problem, Refusal.INVALID, referral.state.value)]
        details = {k: v for k, v in (("actor", response.actor), ("channel", response.channel.value),
                                     ("evidence", list(response.evidence) or None)) if v is not None}
        try:
            transition = referral.handle(
                response.action.value, response.body_id, at=response.responded_at, reason=response.reason,
                outcome=response.outcome.value if response.outcome else None, response_id=response.response_id,
                policy=self.policy, reason_code=response.reason_code.value if response.reason_code else None,
                designated_body_id=response.designated_body_id, due_by=response.due_by,
                stated_at=response.stated_at, details=details,
            )
        except IllegalTransition as exc:
            return [self._rejected(response, str(exc), exc.kind, referral.state.value)]
        self._store_referral(referral)
        event = CaseTransitioned(
            event_id=event_id_for("case_transitioned", transition.response_id or response.response_id),
            case_id=referral.case_id, occurred_at=transition.at, referral_id=referral.referral_id,
            body_id=referral.body_id, action=transition.action,
            from_state=transition.from_state.value, to_state=transition.to_state.value, reason=transition.reason,
            outcome=transition.outcome,
            accept_by=transition.accept_by, response_id=transition.response_id,
            actor_body_id=transition.actor_body_id, actor=transition.details.get("actor"),
            channel=Channel(transition.details["channel"]) if transition.details.get("channel") else None,
            reason_code=transition.reason_code,
            designated_body_id=transition.designated_body_id, due_by=transition.due_by,
            evidence=tuple(transition.details.get("evidence") or ()), stated_at=transition.stated_at,
        )
        out = [Outgoing(event.event_id, referral.case_id, event)]
        if transition is not referral.history[-1]:
            return out  # a retry of an action applied before: its follow-up was issued then
        if transition.to_state is State.RETURNED:
            out.append(self._reroute(referral, transition.at))
        elif transition.to_state is State.DECIDED:
            out.append(self._issue_designated(referral, transition.at))
        elif transition.to_state is State.CLOSED and self.index.open_case(referral.case_id) is not None:
            self._persist(self.index.close(referral.case_id, transition.at))
        return out

    def _designation_problem(self, response: ReferralResponded, referral: Referral) -> str | None:
        """A dispute is decided by naming a body of the case's own county (not coordination); None when fine."""
        if response.designated_body_id is None:
            return None
        try:
            body = self.reference.body(response.designated_body_id)
        except KeyError as exc:
            return str(exc.args[0])
        county = referral.body_id.removeprefix(COORDINATION_PREFIX) if referral.is_coordination else None
        if county is not None and body.county_code != county:
            return f"{body.body_id} is not a body of county {county}; coordination names a body of its own county"
        return None

    def _issue_designated(self, decided: Referral, at: datetime) -> Outgoing:
        step = next_step_after_decision(decided)
        file = self.tables[CASE_FILES_TABLE][decided.case_id]
        finding = FindingReported.model_validate(file["finding"])
        routed = route(self.reference, finding.township_code, finding.category_code, finding.received_at)
        decision = designated_by_coordination(routed, step.body_id, self.reference.body(step.body_id).name)
        return self._issue(decided.case_id, finding, file["dedup_group"], decision, _explain(decision),
                           attempt=step.attempt, replay=False, issued_at=at, designated=True)

    def _reroute(self, returned: Referral, at: datetime) -> Outgoing:
        referrals = [returned]
        for attempt in range(1, returned.attempt):
            earlier = self.tables[REFERRALS_TABLE].get(referral_id_for(returned.case_id, attempt))
            if earlier is not None:
                referrals.append(Referral.from_dict(earlier))
        step = next_step_after_return(referrals)
        file = self.tables[CASE_FILES_TABLE][returned.case_id]
        finding = FindingReported.model_validate(file["finding"])
        decision = route(self.reference, finding.township_code, finding.category_code, finding.received_at,
                         excluded_body_ids=step.exclude_body_ids)
        if isinstance(step, EscalateToCoordination):
            decision = escalated_to_coordination(finding.county_code, decision, step.reason)
        return self._issue(returned.case_id, finding, file["dedup_group"], decision, _explain(decision),
                           attempt=step.attempt, replay=False, issued_at=at)

    # -- deadlines ----------------------------------------------------------------------------------------------

    def due_checks(self, now: datetime) -> list[tuple[str, DeadlineCheck]]:
        """(key, command) for every unanswered referral past a deadline not yet warned about: read from the
        deadline index, so a tick costs the overdue referrals, not all of them."""
        checks = []
        for referral_id in self.due.passed(now):
            stored = self.tables[REFERRALS_TABLE][referral_id]
            group = self.tables[CASE_FILES_TABLE][stored["case_id"]]["dedup_group"]
            checks.append((group, DeadlineCheck(referral_id=referral_id, case_id=stored["case_id"], checked_at=now)))
        return checks

    def overdue_per_body(self, now: datetime) -> Counter[str]:
        """Issued referrals past their deadline at ``now``, per body: those warned about, and those just due."""
        overdue = Counter({body: n for body, n in self.warned_unanswered.items() if n})
        for referral_id in self.due.passed(now):
            overdue[self.tables[REFERRALS_TABLE][referral_id]["body_id"]] += 1
        return overdue

    def _store_referral(self, referral: Referral) -> None:
        referrals = self.tables[REFERRALS_TABLE]
        if (previous := referrals.get(referral.referral_id)) is not None:
            self._count(referral.referral_id, previous, -1)
        stored = referral.to_dict()
        referrals[referral.referral_id] = stored
        self._count(referral.referral_id, stored, +1)

    def _count(self, referral_id: str, stored: dict[str, Any], sign: int) -> None:
        """Add (+1) or take away (-1) one stored referral in the deadline index and the gauges' tallies."""
        if stored["state"] not in ("closed", "returned"):
            self.open_referrals[(stored["body_id"], stored["state"])] += sign
        watched = _watched_deadline(referral_id, stored, self.tables[OVERDUE_TABLE])
        if stored["state"] == State.ISSUED.value and watched is None:
            self.warned_unanswered[stored["body_id"]] += sign
        self.due.track(referral_id, watched if sign > 0 else None)

    def on_deadline_check(self, check: DeadlineCheck) -> list[Outgoing]:
        """Warn and escalate once per deadline, if the referral is still unanswered when the check is processed.

        Raises ``ForgedCommand`` for a check dated ahead of dispatch's own clock: it would make a referral overdue
        before its time, and no worker of dispatch writes one.
        """
        if check.checked_at > self.clock() + CLOCK_SKEW:
            raise ForgedCommand(f"deadline check dated {check.checked_at.isoformat()}, ahead of dispatch's clock")
        stored = self.tables[REFERRALS_TABLE].get(check.referral_id)
        if stored is None:
            return []
        referral = Referral.from_dict(stored)
        if referral.state is not State.ISSUED or not is_overdue(referral.accept_by, check.checked_at):
            return []  # answered or extended in the meantime: responses and checks share one ordered partition
        file = self.tables[CASE_FILES_TABLE][referral.case_id]
        coordination = overdue_escalated_to(self.reference, file["finding"]["township_code"])
        event = ReferralOverdue(
            event_id=event_id_for("referral_overdue", referral.referral_id, referral.accept_by.isoformat()),
            case_id=referral.case_id, occurred_at=check.checked_at, referral_id=referral.referral_id,
            body_id=referral.body_id, deadline=referral.accept_by, escalated_to=coordination,
        )
        notice = self.tables[OVERDUE_TABLE].get(referral.referral_id)
        if notice is not None and notice["deadline"] == referral.accept_by.isoformat():
            event = event.model_copy(update={"occurred_at": datetime.fromisoformat(notice["at"])})
        else:
            stored = self.tables[REFERRALS_TABLE][referral.referral_id]
            self._count(referral.referral_id, stored, -1)
            self.tables[OVERDUE_TABLE][referral.referral_id] = {"deadline": referral.accept_by.isoformat(),
                                                                "at": check.checked_at.isoformat()}
            self._count(referral.referral_id, stored, +1)  # warned about this deadline: not asked about it again
        # Escalation: county coordination gets the warning on its own referrals topic too.
        return [Outgoing(event.event_id, referral.case_id, event, referral_body_id=coordination)]

    # -- retention ----------------------------------------------------------------------------------------------

    def on_state_sweep(self, sweep: StateSweep, in_partition: Callable[[str], bool] = lambda _case_id: True
                       ) -> Counter[str]:
        """Drop what the retention allows, as of the sweep's time, of the cases ``in_partition`` keeps (the worker:
        those of the partition the sweep came on). How many of each were dropped.

        Raises ``ForgedCommand`` for a sweep dated ahead of dispatch's own clock: it would end retention early.
        """
        if sweep.swept_at > self.clock() + CLOCK_SKEW:
            raise ForgedCommand(f"state sweep dated {sweep.swept_at.isoformat()}, ahead of dispatch's clock")
        dropped: Counter[str] = Counter()
        files = self.tables[CASE_FILES_TABLE]
        for case_id in self.index.closed_before(sweep.swept_at - self.retention.closed_files):
            if case_id in files and in_partition(case_id):
                self._drop_closed_files(case_id)
                dropped["case_files"] += 1
        rows = self.index.forget_closed_before(sweep.swept_at - self.retention.recurrence_window, only=in_partition)
        if forgotten := sum(1 for row in rows if row.table == dedup.CASES_TABLE):
            dropped["recurrence"] = forgotten
        self._persist(rows)
        return dropped

    def _drop_closed_files(self, case_id: str) -> None:
        referrals, notices = self.tables[REFERRALS_TABLE], self.tables[OVERDUE_TABLE]
        attempt = 1
        while (stored := referrals.get(referral_id := referral_id_for(case_id, attempt))) is not None:
            self._count(referral_id, stored, -1)
            del referrals[referral_id]
            if referral_id in notices:
                del notices[referral_id]
            attempt += 1
        del self.tables[CASE_FILES_TABLE][case_id]

    def _rejected(self, response: ReferralResponded, reason: str, code: str, state: str | None = None) -> Outgoing:
        event = ResponseRejected(
            event_id=event_id_for("response_rejected", response.response_id), case_id=response.case_id,
            occurred_at=response.responded_at, response_id=response.response_id,
            referral_id=response.referral_id, body_id=response.body_id, reason=reason,
            code=str(code),  # type: ignore[arg-type]  # a Refusal value or not_found: the Literal's members
            state=state,
        )
        return Outgoing(event.event_id, response.case_id, event)

    def _persist(self, rows: list[dedup.Row]) -> None:
        for row in rows:
            table = self.tables[row.table]
            if row.value is None:
                table.pop(row.key, None)
            else:
                table[row.key] = row.value


def _watched_deadline(referral_id: str, stored: dict[str, Any], warned: Table) -> datetime | None:
    """The deadline the timer watches a stored referral for: an issued one's, unless that deadline was warned about
    already (one warning per deadline: an extension after a warning gives a new deadline to watch)."""
    if stored["state"] != State.ISSUED.value:
        return None
    notice = warned.get(referral_id)
    if notice is not None and notice["deadline"] == stored["accept_by"]:
        return None
    return datetime.fromisoformat(stored["accept_by"])


def _normalised_subjects(finding: FindingReported) -> dedup.Subjects:
    if not finding.subjects:  # most findings name no subject
        return frozenset()
    return frozenset((s.kind, normalise_subject(s.kind, s.value)) for s in finding.subjects)


def _explain(decision: RoutingDecision) -> RoutingExplanation:
    return _explanation(decision.rule, tuple(decision.item_codes), decision.catalogue_version, decision.detail)


@lru_cache(maxsize=1 << 12)  # decisions come from the routing memo: the same few thousand again and again
def _explanation(rule: str, item_codes: tuple[str, ...], catalogue_version: str, detail: str) -> RoutingExplanation:
    return RoutingExplanation(rule=rule, item_codes=item_codes, catalogue_version=catalogue_version, detail=detail)
