"""Patrol's service layer: validate, claim the idempotency key, publish, record the answer — for both APIs."""

# Failure policy (docs/patrol.md): a broker that does not acknowledge in time gives 503 — nothing confirmed, retry with
# the same key; an unreadable idempotency store gives 503 too, since without it one key could get two answers.

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.api import FindingSubmission
from schemas.events import FindingReported
from services.common.audit import AuditEntry, Who
from services.common.envelope import Record, encode
from services.patrol.adapters import metrics
from services.patrol.domain.access import Principal
from services.patrol.domain.audit import masked_problems
from services.patrol.domain.idempotency import KeyRecord, KeyState, StoreUnavailable, Verdict, decide
from services.patrol.domain.intake import IntakeLimits, Problem, Rejected, build_finding
from services.patrol.ports import Ack, AuditLog, BrokerUnavailable, IdempotencyStore, Publisher
from services.reference.loader import ReferenceData


@dataclass(frozen=True)
class Accepted:
    finding_id: str
    client_report_id: str
    partition: int | None
    offset: int | None
    replayed: bool = False


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str
    problems: tuple[Problem, ...] = ()
    retry_after_seconds: int | None = None

    @property
    def detail(self) -> str:
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems) or self.reason


Outcome = Accepted | Refused


@dataclass(frozen=True)
class Item:
    """One submission to file, or the refusal that decoding it already produced."""

    submission: FindingSubmission | None
    fingerprint: str
    what: dict[str, Any] = field(default_factory=dict)  # allow-listed audit summary
    refused: Refused | None = None


@dataclass(frozen=True)
class Context:
    request_id: str
    api: str  # "json" or "open311"
    action: str
    principal: Principal | None
    client_address: str = ""


@dataclass
class _Pending:
    index: int
    finding: FindingReported
    fingerprint: str
    event: Record
    record: KeyRecord | None = None  # once the topic incarnation (the record's scope) is known
    claimed_here: bool = False

    @property
    def key(self) -> KeyRecord:
        assert self.record is not None
        return self.record


class IntakeService:
    def __init__(self, *, reference: ReferenceData, publisher: Publisher, store: IdempotencyStore, audit: AuditLog,
                 limits: IntakeLimits, retry_after_seconds: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.reference = reference
        self.publisher = publisher
        self.store = store
        self.audit = audit
        self.limits = limits
        self.retry_after_seconds = retry_after_seconds
        self.clock = clock

    def unavailable(self, reason: str, message: str) -> Refused:
        return Refused(503, reason, (Problem("", message),), self.retry_after_seconds)

    async def file(self, items: Sequence[Item], ctx: Context) -> list[Outcome]:
        """File every item: each gets its own outcome; 202-worthy only once the broker acknowledged it."""
        received_at = self.clock()
        outcomes: list[Outcome | None] = [item.refused for item in items]
        pending: list[_Pending] = []
        for index, item in enumerate(items):
            if item.refused is not None or item.submission is None or ctx.principal is None:
                outcomes[index] = outcomes[index] or Refused(401, "unauthenticated")
                continue
            try:
                finding, key = build_finding(item.submission, ctx.principal, self.reference, received_at, self.limits)
            except Rejected as exc:
                outcomes[index] = Refused(exc.status, exc.reason, tuple(exc.problems))
                continue
            event = encode(finding, event_id=finding.finding_id, source=f"/patrol/{finding.township_code}", key=key,
                           subject=finding.finding_id, time=received_at)
            pending.append(_Pending(index, finding, item.fingerprint, event))
        if pending:
            for index, outcome in (await self._publish(pending, received_at)).items():
                outcomes[index] = outcome
        final = [o if o is not None else self.unavailable("internal", "no outcome") for o in outcomes]
        self.record_all(ctx, [(outcome, item.what) for item, outcome in zip(items, final, strict=True)])
        return final

    async def _publish(self, pending: list[_Pending], received_at: datetime) -> dict[int, Outcome]:
        try:
            scope = await self.publisher.scope()
        except BrokerUnavailable as exc:
            return {p.index: self.unavailable("broker_unavailable", f"not accepted, retry later: {exc}")
                    for p in pending}
        for p in pending:
            p.record = _key_record(p.finding, p.fingerprint, received_at, scope)
        try:
            existing = await self.store.claim([p.key for p in pending])
        except StoreUnavailable as exc:
            return {p.index: self.unavailable("store_unavailable", str(exc)) for p in pending}
        outcomes: dict[int, Outcome] = {}
        to_send: list[_Pending] = []
        for p, found in zip(pending, existing, strict=True):
            verdict = decide(found, p.fingerprint)
            if verdict is Verdict.CONFLICT:
                assert found is not None
                outcomes[p.index] = Refused(409, "idempotency_conflict", (Problem(
                    "client_report_id", f"already used for a different report (finding {found.finding_id}); "
                                        "send that report unchanged, or use a new client_report_id"),))
            elif verdict is Verdict.REPLAY:
                assert found is not None
                outcomes[p.index] = _accepted(found, replayed=True)
            else:
                p.claimed_here = found is None
                to_send.append(p)
        if to_send:
            outcomes.update(await self._send(to_send))
        return outcomes

    async def _send(self, to_send: list[_Pending]) -> dict[int, Outcome]:
        started = time.perf_counter()
        results = await self.publisher.publish_many([p.event for p in to_send])
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
        acked = [(p, r) for p, r in zip(to_send, results, strict=True) if isinstance(r, Ack)]
        failed = [(p, r) for p, r in zip(to_send, results, strict=True) if isinstance(r, BrokerUnavailable)]
        outcomes: dict[int, Outcome] = {}
        try:
            # Never sent: free the key. Sent but unconfirmed: keep the claim, the record may still land.
            await self.store.release([p.key for p, r in failed if p.claimed_here and not r.sent])
            stored = await self.store.accept([(p.key, ack) for p, ack in acked])
        except StoreUnavailable as exc:
            # The broker has these findings; a retry with the same key republishes the same finding id.
            return {p.index: self.unavailable("store_unavailable", str(exc)) for p in to_send}
        by_key = {(s.reporter, s.client_report_id): s for s in stored}
        for p, _ack in acked:
            outcomes[p.index] = _accepted(by_key[(p.key.reporter, p.key.client_report_id)], replayed=False)
        for p, failure in failed:
            outcomes[p.index] = self.unavailable("broker_unavailable", f"not accepted, retry later: {failure}")
        return outcomes

    def record(self, ctx: Context, outcome: Outcome, what: dict[str, Any], *, count: bool = True) -> None:
        """Audit and count one outcome (also for refusals decided before the service, e.g. by auth); ``count``
        False audits without touching the findings metrics (a refused read)."""
        self.record_all(ctx, [(outcome, what)], count=count)

    def record_all(self, ctx: Context, outcomes: Sequence[tuple[Outcome, dict[str, Any]]], *,
                   count: bool = True) -> None:
        """``record`` for every outcome of one request: one audit write, one increment per metric series."""
        at, who = self.clock(), Who.of(ctx.principal, ctx.client_address)
        counts: Counter[tuple[Any, tuple[str, ...]]] = Counter()
        entries = []
        for outcome, what in outcomes:
            problems: tuple[tuple[str, str], ...] = ()
            if isinstance(outcome, Accepted):
                assert count, "only refusals are recorded uncounted"
                kind, reason = ("replayed" if outcome.replayed else "accepted"), ""
                status = 200 if ctx.api == "open311" else 202
                what = {**what, "finding_id": outcome.finding_id}
                counts[(metrics.FINDINGS_REPLAYED, (ctx.api,)) if outcome.replayed else (
                    metrics.FINDINGS_ACCEPTED, (ctx.api, str(what.get("township_code", "")),
                                                str(what.get("category_code", "")), str(what.get("source", ""))))] += 1
            else:
                kind, status, reason = _outcome_kind(outcome), outcome.status, outcome.reason
                problems = masked_problems([(p.field, p.message) for p in outcome.problems])
                if count:
                    counts[(metrics.PUBLISH_FAILURES, (ctx.api,)) if outcome.status >= 500 else (
                        metrics.FINDINGS_REJECTED, (ctx.api, outcome.reason))] += 1
            entries.append(AuditEntry(at=at, request_id=ctx.request_id, api=ctx.api, action=ctx.action, who=who,
                                      outcome=kind, status=status, reason=reason, what=what, problems=problems))
        self.audit.record_many(entries)
        for (metric, labels), n in counts.items():
            metric.labels(*labels).inc(n)


def _outcome_kind(refused: Refused) -> str:
    return {401: "unauthenticated", 403: "forbidden", 409: "conflict", 429: "rate_limited"}.get(
        refused.status, "unavailable" if refused.status >= 500 else "rejected")


def _key_record(finding: FindingReported, fingerprint: str, received_at: datetime, scope: str) -> KeyRecord:
    return KeyRecord(scope=scope, reporter=finding.reporter, client_report_id=finding.client_report_id,
                     fingerprint=fingerprint, finding_id=finding.finding_id, township_code=finding.township_code,
                     category_code=finding.category_code, latitude=finding.location.latitude,
                     longitude=finding.location.longitude, state=KeyState.PENDING, claimed_at=received_at)


def _accepted(record: KeyRecord, *, replayed: bool) -> Accepted:
    return Accepted(record.finding_id, record.client_report_id, record.partition, record.offset, replayed)
