"""Patrol's service layer: validate, claim the idempotency key, publish, record the answer — for both APIs."""

# Failure policy (docs/patrol.md): a broker that does not acknowledge in time gives 503 — nothing confirmed, retry with
# the same key; an unreadable idempotency store gives 503 too, since without it one key could get two answers.

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from schemas.api import FindingSubmission
from schemas.events import FindingReported
from services.common.audit import AuditEntry, Who
from services.common.envelope import Record, encode
from services.patrol import metrics
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
    record: KeyRecord
    event: Record
    claimed_here: bool = False


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
            pending.append(_Pending(index, _key_record(finding, item.fingerprint, received_at), event))
        if pending:
            for index, outcome in (await self._publish(pending)).items():
                outcomes[index] = outcome
        final = [o if o is not None else self.unavailable("internal", "no outcome") for o in outcomes]
        for item, outcome in zip(items, final, strict=True):
            self.record(ctx, outcome, item.what)
        return final

    async def _publish(self, pending: list[_Pending]) -> dict[int, Outcome]:
        try:
            scope = await self.publisher.scope()
        except BrokerUnavailable as exc:
            return {p.index: self.unavailable("broker_unavailable", f"not accepted, retry later: {exc}")
                    for p in pending}
        for p in pending:
            p.record = _scoped(p.record, scope)
        try:
            existing = await self.store.claim([p.record for p in pending])
        except StoreUnavailable as exc:
            return {p.index: self.unavailable("store_unavailable", str(exc)) for p in pending}
        outcomes: dict[int, Outcome] = {}
        to_send: list[_Pending] = []
        for p, found in zip(pending, existing, strict=True):
            verdict = decide(found, p.record.fingerprint)
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
            await self.store.release([p.record for p, r in failed if p.claimed_here and not r.sent])
            stored = await self.store.accept([(p.record, ack) for p, ack in acked])
        except StoreUnavailable as exc:
            # The broker has these findings; a retry with the same key republishes the same finding id.
            return {p.index: self.unavailable("store_unavailable", str(exc)) for p in to_send}
        by_key = {(s.reporter, s.client_report_id): s for s in stored}
        for p, _ack in acked:
            outcomes[p.index] = _accepted(by_key[(p.record.reporter, p.record.client_report_id)], replayed=False)
        for p, failure in failed:
            outcomes[p.index] = self.unavailable("broker_unavailable", f"not accepted, retry later: {failure}")
        return outcomes

    def record(self, ctx: Context, outcome: Outcome, what: dict[str, Any], *, count: bool = True) -> None:
        """Audit and count one outcome (also for refusals decided before the service, e.g. by auth); ``count``
        False audits without touching the findings metrics (a refused read)."""
        problems: tuple[tuple[str, str], ...] = ()
        if not count:
            assert isinstance(outcome, Refused)
            kind, status, reason = _outcome_kind(outcome), outcome.status, outcome.reason
            problems = masked_problems([(p.field, p.message) for p in outcome.problems])
        elif isinstance(outcome, Accepted):
            kind, reason = ("replayed" if outcome.replayed else "accepted"), ""
            status = 200 if ctx.api == "open311" else 202
            what = {**what, "finding_id": outcome.finding_id}
            if outcome.replayed:
                metrics.FINDINGS_REPLAYED.labels(ctx.api).inc()
            else:
                metrics.FINDINGS_ACCEPTED.labels(ctx.api, str(what.get("township_code", "")),
                                                 str(what.get("category_code", "")),
                                                 str(what.get("source", ""))).inc()
        else:
            kind, status, reason = _outcome_kind(outcome), outcome.status, outcome.reason
            problems = masked_problems([(p.field, p.message) for p in outcome.problems])
            if outcome.status >= 500:
                metrics.PUBLISH_FAILURES.labels(ctx.api).inc()
            else:
                metrics.FINDINGS_REJECTED.labels(ctx.api, outcome.reason).inc()
        self.audit.record(AuditEntry(
            at=self.clock(), request_id=ctx.request_id, api=ctx.api, action=ctx.action,
            who=Who.of(ctx.principal, ctx.client_address), outcome=kind, status=status, reason=reason,
            what=what, problems=problems))


def _outcome_kind(refused: Refused) -> str:
    return {401: "unauthenticated", 403: "forbidden", 409: "conflict", 429: "rate_limited"}.get(
        refused.status, "unavailable" if refused.status >= 500 else "rejected")


def _key_record(finding: FindingReported, fingerprint: str, received_at: datetime) -> KeyRecord:
    return KeyRecord(scope="", reporter=finding.reporter, client_report_id=finding.client_report_id,
                     fingerprint=fingerprint, finding_id=finding.finding_id, township_code=finding.township_code,
                     category_code=finding.category_code, latitude=finding.location.latitude,
                     longitude=finding.location.longitude, state=KeyState.PENDING, claimed_at=received_at)


def _scoped(record: KeyRecord, scope: str) -> KeyRecord:
    return replace(record, scope=scope)


def _accepted(record: KeyRecord, *, replayed: bool) -> Accepted:
    return Accepted(record.finding_id, record.client_report_id, record.partition, record.offset, replayed)
