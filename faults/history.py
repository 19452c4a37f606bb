"""The recorded history (every acknowledged write) and the invariants checked on it, as the topics show it."""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.events import CASE_EVENT_MODELS, CaseOpened, FindingMerged, ReferralIssued, WireModel
from services.common.deadlines import DeadlinePolicy
from services.common.envelope import PoisonEvent, decode
from services.common.privacy import PiiKind, find_personal_data
from services.common.topics import CASE_EVENTS, FEED, FINDINGS, referrals_topic
from services.info_share.adapters.register.database import make_engine
from services.info_share.adapters.register.snapshot import first_difference, snapshot
from services.info_share.entrypoints.cli_rebuild import rebuild
from services.info_share.entrypoints.cli_verify_ledger import verify
from tests.dispatch_fixtures import decisions
from tests.topic_reader import read_records


@dataclass(frozen=True)
class Ack:
    """One write the system acknowledged with 202: the finding id it answered and the ground-truth violation."""

    scenario: str
    finding_id: str
    violation: str  # "<day>:<violation index>" from scripts.sample_day
    client_report_id: str


@dataclass
class History:
    acks: list[Ack] = field(default_factory=list)
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def for_scenario(self, name: str) -> list[Ack]:
        return [ack for ack in self.acks if ack.scenario == name]


def read_tolerant(bootstrap: str, topic: str, models: tuple[type[WireModel], ...] = tuple(CASE_EVENT_MODELS)
                  ) -> tuple[list[WireModel], int]:
    """Decoded events of a topic, skipping (and counting) the poison a scenario put there on purpose."""
    events, poison = [], 0
    for _key, value, headers in read_records(bootstrap, topic):
        try:
            events.append(decode(headers, value, models)[1])
        except PoisonEvent:
            poison += 1
    return events, poison


def case_events(bootstrap: str, prefix: str) -> list[WireModel]:
    return read_tolerant(bootstrap, CASE_EVENTS.name(prefix))[0]


def wait_decided(bootstrap: str, prefix: str, finding_ids: set[str], timeout: float,
                 heal: Callable[[], object] = lambda: None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        heal()  # a supervisor restarts what died (as systemd or Kubernetes would)
        decided = decisions(case_events(bootstrap, prefix))
        if finding_ids <= set(decided):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1.5)


# The feed's free-text fields (FeedEntry.summary); ids, codes and coordinates are not text a person wrote.
TEXT_FIELDS = ("summary", "description", "address", "reason")


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k in TEXT_FIELDS and isinstance(v, str)] + [
            s for v in value.values() if isinstance(v, dict | list) for s in _texts(v)]
    if isinstance(value, list):
        return [s for v in value for s in _texts(v)]
    return []


def feed_leaks(bootstrap: str, prefix: str) -> tuple[int, int, list[str]]:
    """(feed records, distinct feed ids, unmasked resident ids / phone numbers found on the feed)."""
    records = read_records(bootstrap, FEED.name(prefix))
    leaks: list[str] = []
    ids = set()
    for _key, value, headers in records:
        ids.add(headers.get("ce_id", b"").decode())
        try:
            texts = _texts(json.loads(value))
        except ValueError:
            texts = [value.decode("utf-8", "replace")]
        for text in texts:
            leaks += [f"{found.kind}:{found.value}" for found in find_personal_data(text)
                      if found.kind in (PiiKind.RESIDENT_ID, PiiKind.PHONE)]
    return len(records), len(ids), leaks


def compare_with_rebuild(bootstrap: str, prefix: str, live_url: str, timeout: float) -> str | None:
    """None when the live register equals a rebuild from the topics (retried while the worker catches up)."""
    deadline = time.monotonic() + timeout
    while True:
        with tempfile.TemporaryDirectory(prefix="faults-rebuild-") as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'rebuilt.db'}")
            live = make_engine(live_url)
            try:
                rebuild(engine, bootstrap_servers=bootstrap, topic_prefix=prefix)
                difference = first_difference(snapshot(live), snapshot(engine))
                if difference is None:
                    verdict = verify(live)
                    difference = None if verdict.intact else f"live ledger chain broken: {verdict.first_break}"
            finally:
                engine.dispose()
                live.dispose()
        if difference is None or time.monotonic() > deadline:
            return difference
        time.sleep(2)


def check(bootstrap: str, prefix: str, live_url: str, scenario_acks: list[Ack], settle_timeout: float,
          skew_check: bool = False, heal: Callable[[], object] = lambda: None) -> dict[str, Any]:
    """Every invariant on the history so far; figures for this scenario's acknowledged writes."""
    fids = {ack.finding_id for ack in scenario_acks}
    wait_decided(bootstrap, prefix, fids, settle_timeout, heal)
    events = case_events(bootstrap, prefix)
    decided = decisions(events)
    lost = sorted(fid for fid in fids if not decided.get(fid))
    decided_twice = sorted(fid for fid in fids if len(decided.get(fid, ())) > 1)

    case_of = {fid: next(iter(d))[1] for fid, d in decided.items() if d}
    cases_per_violation: dict[str, set[str]] = defaultdict(set)
    for ack in scenario_acks:
        if ack.finding_id in case_of:
            cases_per_violation[ack.violation].add(case_of[ack.finding_id])
    duplicated_cases = sum(len(c) - 1 for c in cases_per_violation.values())

    referrals = {e.referral_id: e for e in events if isinstance(e, ReferralIssued)}
    first_referrals: dict[str, set[str]] = defaultdict(set)
    for referral in referrals.values():
        if referral.attempt == 1:
            first_referrals[referral.case_id].add(referral.referral_id)
    duplicated_referrals = sum(max(0, len(set().union(*(first_referrals.get(c, set()) for c in cases))) - 1)
                               for cases in cases_per_violation.values())
    # Whole history: one first referral per case, whatever scenario made it.
    duplicated_referrals_total = sum(len(ids) - 1 for ids in first_referrals.values() if ids)

    missing_on_body_topic = 0
    for body in {r.body_id for r in referrals.values()}:
        on_topic, _poison = read_tolerant(bootstrap, referrals_topic(body, prefix), (ReferralIssued,))
        want = {rid for rid, r in referrals.items() if r.body_id == body}
        missing_on_body_topic += len(want - {r.referral_id for r in on_topic})  # type: ignore[attr-defined]

    register_difference = compare_with_rebuild(bootstrap, prefix, live_url, timeout=60)
    feed_records, feed_ids, leaks = feed_leaks(bootstrap, prefix)

    result: dict[str, Any] = {
        "acknowledged": len(fids),
        "lost": len(lost),
        "decided_twice": len(decided_twice),
        "duplicated_cases": duplicated_cases,
        "duplicated_referrals": duplicated_referrals,
        "violations": len(cases_per_violation),
        "checks": {
            "first_referrals_per_case_over_whole_history": "ok" if not duplicated_referrals_total
            else f"{duplicated_referrals_total} extra",
            "referrals_on_body_topics": "ok" if not missing_on_body_topic
            else f"{missing_on_body_topic} missing",
            "register_equals_rebuild": register_difference or "ok",
            "feed_unmasked_pii": "ok" if not leaks else f"{len(leaks)}: {leaks[:3]}",
        },
        "totals": {"case_events": len(events), "distinct_cases": len(set(case_of.values())),
                   "referrals": len(referrals), "feed_records": feed_records, "feed_ids": feed_ids},
    }
    if lost:
        on_topic = {h.get("ce_id", b"").decode() for _k, _v, h in read_records(bootstrap, FINDINGS.name(prefix))}
        result["lost_ids"] = lost
        result["lost_but_on_findings_topic"] = len(set(lost) & on_topic)
    if skew_check:
        result["checks"]["deadlines_from_received_at"] = deadline_check(events, fids, case_of)
    result["passed"] = (not lost and not decided_twice and not duplicated_cases and not duplicated_referrals
                        and all(v == "ok" for v in result["checks"].values()))
    return result


def deadline_check(events: list[WireModel], fids: set[str], case_of: dict[str, str]) -> str:
    """Every first referral of these findings' cases: accept_by counted from received_at, never from observed_at."""
    policy = DeadlinePolicy()
    cases = {case_of[f] for f in fids if f in case_of}
    checked = bad = 0
    for event in events:
        if isinstance(event, ReferralIssued) and event.case_id in cases and event.attempt == 1:
            checked += 1
            trusted = {policy.accept_by(event.finding.received_at, major) for major in (True, False)}
            if event.accept_by not in trusted or event.occurred_at < event.finding.received_at:
                bad += 1
    return "ok" if not bad else f"{bad} of {checked} referrals have a deadline not based on received_at"


def case_event_ids(events: list[WireModel]) -> dict[str, int]:
    return {
        "event_ids": len({e.event_id for e in events}),  # type: ignore[attr-defined]
        "cases": len({e.case_id for e in events if isinstance(e, CaseOpened)}),
        "merges": len({e.event_id for e in events if isinstance(e, FindingMerged)}),
        "referrals": len({e.referral_id for e in events if isinstance(e, ReferralIssued)}),
    }
