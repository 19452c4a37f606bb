"""The fault scenarios: each drives findings through patrol while it injects one fault, and says what it did."""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from deploy.kafka.local_kafka import LocalKafkaCluster, free_port
from deploy.local_stack import ManagedProcess, Stack
from faults import poison
from faults.history import History, case_event_ids, case_events, feed_leaks, read_tolerant
from faults.load import Driver, Planned, days_ago, plan_day, skew
from faults.netns import NetworkNamespace
from schemas.api import FindingSubmission
from schemas.events import CaseTransitioned, ReferralIssued, ResponseRejected
from services.common.envelope import encode
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FINDINGS, REFERRAL_RESPONSES
from services.info_share.adapters.register.database import make_engine
from services.info_share.adapters.register.snapshot import first_difference, snapshot
from services.info_share.entrypoints.cli_rebuild import rebuild
from services.patrol.domain.access import Principal
from services.patrol.domain.intake import build_finding
from services.reference.loader import ReferenceData
from tests.topic_reader import read_records

DISPATCH = ("dispatch-a", "dispatch-b")
INFO_SHARE = "info-share-worker"


@dataclass
class Outcome:
    injected: str
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    skew_check: bool = False


@dataclass
class Context:
    stack: Stack
    history: History
    driver: Driver
    reference: ReferenceData
    short: bool
    session_timeout: float
    started: list[ManagedProcess] = field(default_factory=list)
    web_ports: dict[str, int] = field(default_factory=dict)
    day: int = 0
    netns: NetworkNamespace | None = None  # the cluster run's network namespace (faults/netns.py), where made
    small_disk: Path | None = None  # a cluster node's data directory on a small loop-mounted volume, where made

    @property
    def duration(self) -> float:
        return 6.0 if self.short else 25.0

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap_servers

    @property
    def prefix(self) -> str:
        return self.stack.topic_prefix

    def plan(self) -> list[Planned]:
        self.day += 1
        plan = plan_day(self.reference, days_ago(self.day), seed=1000 + self.day, short=self.short)
        # Short: the violations of every other township's first report (the repeats of those included).
        return [p for p in plan if p.item.violation % 2 == 0] if self.short else plan

    def start(self, name: str) -> ManagedProcess:
        if name in DISPATCH:
            port = free_port()
            self.web_ports[name] = port
            managed = self.stack.start_dispatch(name, web_port=port)
        elif name == INFO_SHARE:
            self.web_ports[name] = self.stack.info_share_web_port
            managed = self.stack.start_info_share_worker()
        elif name == "patrol":
            managed = self.stack.start_patrol()
        else:
            managed = self.stack.start_info_share_api()
        self.started.append(managed)
        return managed

    def proc(self, name: str) -> ManagedProcess:
        return self.stack.processes[name]

    def heal(self) -> list[str]:
        """Restart any service (and any cluster node) that is not running; say which (and its exit status)."""
        notes = []
        broker = self.stack.broker
        if isinstance(broker, LocalKafkaCluster):
            for node in broker.nodes:
                if node.running_pid() is None:
                    notes.append(f"broker node {node.node_id} was not running; restarted")
                    node.start()
        for name, managed in list(self.stack.processes.items()):
            code = managed.process.poll()
            if code is not None:
                notes.append(f"{name} had exited with {code}; restarted")
                self.start(name)
        return notes

    def wait_acked(self, scenario: str, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.history.for_scenario(scenario)) < count and time.monotonic() < deadline:
            time.sleep(0.1)


Scenario = Callable[[Context, str], Outcome]


def _mid_stream(ctx: Context, name: str, inject: Callable[[], None]) -> None:
    plan = ctx.plan()
    thread = ctx.driver.start(name, plan, ctx.duration)
    ctx.wait_acked(name, len(plan) // 3)
    inject()
    thread.join()


def sigkill_dispatch(ctx: Context, name: str) -> Outcome:
    def inject() -> None:
        ctx.proc("dispatch-a").kill()
        time.sleep(1)
        ctx.start("dispatch-a")
    _mid_stream(ctx, name, inject)
    return Outcome("SIGKILL dispatch-a (one of 2 workers in the group) mid-stream, restart it")


def sigterm_dispatch(ctx: Context, name: str) -> Outcome:
    codes = []

    def inject() -> None:
        victim = ctx.proc("dispatch-b")
        victim.stop()
        codes.append(victim.process.returncode)
        ctx.start("dispatch-b")
    _mid_stream(ctx, name, inject)
    return Outcome("SIGTERM dispatch-b mid-stream (clean stop), restart it", [f"exit status on SIGTERM: {codes}"])


def sigstop_dispatch(ctx: Context, name: str) -> Outcome:
    out = Outcome(f"SIGSTOP dispatch-a for {ctx.session_timeout + 4:.0f}s (session timeout {ctx.session_timeout:.0f}s)"
                  " mid-stream, SIGCONT; it must exit 70 (pause guard); restart it")

    def inject() -> None:
        frozen = ctx.proc("dispatch-a")
        frozen.process.send_signal(signal.SIGSTOP)
        time.sleep(ctx.session_timeout + 4)
        frozen.process.send_signal(signal.SIGCONT)
        try:
            code = frozen.process.wait(60)
        except Exception:
            code = None
            frozen.kill()
        log = frozen.log_path.read_text(errors="replace")
        out.extra["exit_status_after_sigcont"] = code
        if code != 70:
            out.failures.append(f"woken worker exited with {code}, not 70 (pause guard)")
        elif "was paused for" not in log:
            out.failures.append("exit 70 but the log does not show the pause guard")
        ctx.start("dispatch-a")
    _mid_stream(ctx, name, inject)
    return out


def kill_broker(ctx: Context, name: str) -> Outcome:
    down = 5 if ctx.short else 8
    out = Outcome(f"SIGKILL the broker while patrol takes findings; {down} s down; start it again (same data dir, "
                  "ports)")
    broker = ctx.stack.broker
    assert broker is not None

    def inject() -> None:
        broker.stop(kill=True)
        time.sleep(down)
        broker.start()
    _mid_stream(ctx, name, inject)
    out.notes += ctx.heal()
    statuses = ctx.history.statuses[name]
    out.extra["http_statuses"] = dict(statuses)
    out.notes.append(f"clients saw {statuses.get(503, 0)} × 503 and retried; "
                     f"{statuses.get(599, 0)} connection errors")
    return out


def kill_info_share(ctx: Context, name: str) -> Outcome:
    def inject() -> None:
        ctx.proc(INFO_SHARE).kill()
        time.sleep(3)  # events keep arriving on case-events meanwhile
        ctx.start(INFO_SHARE)
    _mid_stream(ctx, name, inject)
    return Outcome("SIGKILL the info_share worker mid-stream, restart it; the register must equal a rebuild, and "
                   "its ledger chain must verify (no gap, no repeat)")


def _dead_letter_metric(ctx: Context) -> float:
    import httpx
    total = 0.0
    for name, port in ctx.web_ports.items():
        if name in ctx.stack.processes and ctx.proc(name).process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
                    if line.startswith("liandong_dead_letters_total{"):
                        total += float(line.rsplit(" ", 1)[1])
    return total


def poison_input(ctx: Context, name: str) -> Outcome:
    out = Outcome("poison on findings, referral-responses and case-events: bad JSON, no ce_ headers, wrong ce_type, "
                  "wrong ce_specversion, wrong schema version, a missing field, a 300k-character value; then valid "
                  "findings and a valid referral response")
    plan = ctx.plan()
    item = next(p.item for p in plan if p.item.principal.startswith("officer:"))
    system = Principal("system-faults", "system", frozenset(ctx.reference.townships))
    finding, key = build_finding(FindingSubmission.model_validate(item.body), system, ctx.reference,
                                 datetime.now(UTC))
    record = encode(finding, event_id=finding.finding_id, source="/faults", key=key)
    records, notes = poison.finding_poison(FINDINGS.name(ctx.prefix), key, record.headers, record.value)
    out.notes += notes

    case_topic = CASE_EVENTS.name(ctx.prefix)
    template = next(r for r in read_records(ctx.bootstrap, case_topic)
                    if r[2].get("ce_type", b"").startswith(b"cn.liandong.case.opened"))
    more, notes = poison.case_event_poison(case_topic, template[0], list(template[2].items()), template[1])
    records += more
    out.notes += notes

    events = case_events(ctx.bootstrap, ctx.prefix)
    answered = {e.referral_id for e in events if isinstance(e, CaseTransitioned | ResponseRejected)}
    referral = next(e for e in events if isinstance(e, ReferralIssued) and e.referral_id not in answered)
    response = encode(poison.accept(referral), event_id=f"faults-accept-{referral.referral_id}", source="/faults",
                      key=referral.dedup_group)
    responses_topic = REFERRAL_RESPONSES.name(ctx.prefix)
    more, notes = poison.response_poison(responses_topic, referral.dedup_group, response.headers, response.value)
    records += more
    out.notes += notes

    metric_before = _dead_letter_metric(ctx)
    poison.send(ctx.bootstrap, records)
    # Valid input after the poison on every topic: a response, and findings (which make new case events).
    poison.send(ctx.bootstrap, [(responses_topic, response.key, response.headers, response.value)])
    ctx.driver.run(name, plan, ctx.duration)

    wanted = {r[2][-1][1].decode() for r in records}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = poison.dead_lettered(ctx.bootstrap, DEAD_LETTERS.name(ctx.prefix))
        if wanted <= set(found):
            break
        time.sleep(1.5)
    missing = sorted(wanted - set(found))
    no_reason = sorted(m for m in wanted & set(found) if not found[m])
    out.extra["poison_sent"] = len(wanted)
    out.extra["dead_lettered"] = len(wanted & set(found))
    out.extra["dlq_reasons"] = {m: found[m][:120] for m in sorted(wanted & set(found))}
    if missing:
        out.failures.append(f"not on the dead-letter topic: {missing}")
    if no_reason:
        out.failures.append(f"dead letters without dlq_reason: {no_reason}")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        later = case_events(ctx.bootstrap, ctx.prefix)
        if any(isinstance(e, CaseTransitioned | ResponseRejected) and e.referral_id == referral.referral_id
               for e in later):
            break
        time.sleep(1.5)
    else:
        out.failures.append("the valid referral response sent after the poison was not processed")
    metric_after = _dead_letter_metric(ctx)
    out.extra["dead_letter_metric_increase"] = metric_after - metric_before
    if metric_after - metric_before < len(wanted):
        out.notes.append(f"liandong_dead_letters_total rose by {metric_after - metric_before}, "
                         f"expected ≥ {len(wanted)} (a restarted worker starts its counters at 0)")
    out.notes += ctx.heal()
    return out


def _groups(ctx: Context) -> dict[str, list[str]]:
    return {f"{ctx.stack.group_prefix}-dispatch": [FINDINGS.name(ctx.prefix), REFERRAL_RESPONSES.name(ctx.prefix)],
            f"{ctx.stack.group_prefix}-info-share": [CASE_EVENTS.name(ctx.prefix)]}


def _reset_to_zero(ctx: Context, group: str, topics: list[str]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=ctx.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        deadline = time.monotonic() + 60
        while True:
            try:  # the group must be empty (its members gone) before a non-member may commit
                consumer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in tps})
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        consumer.close()


def _caught_up(ctx: Context, timeout: float) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=ctx.bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=ctx.bootstrap)
    try:
        targets = {}
        for group, topics in _groups(ctx).items():
            tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
            targets[group] = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = 0
            for group, ends in targets.items():
                committed = admin.list_group_offsets({group: None}).get(group, {})
                behind += sum(max(0, end - (committed[tp].offset if tp in committed else 0))
                              for tp, end in ends.items())
            if not behind:
                return True
            time.sleep(1)
        return False
    finally:
        consumer.close()
        admin.close()


def replay_from_zero(ctx: Context, name: str) -> Outcome:
    out = Outcome("stop dispatch and info_share, reset both consumer groups' committed offsets to 0 on every input "
                  "topic (findings, referral-responses, case-events), restart: everything is read again")
    for worker in (*DISPATCH, INFO_SHARE):
        ctx.proc(worker).stop()
    before = case_event_ids(case_events(ctx.bootstrap, ctx.prefix))
    _, feed_before, _ = feed_leaks(ctx.bootstrap, ctx.prefix)
    engine = make_engine(ctx.stack.database_url)
    register_before = snapshot(engine)
    engine.dispose()
    for group, topics in _groups(ctx).items():
        _reset_to_zero(ctx, group, topics)
    for worker in (INFO_SHARE, *DISPATCH):
        ctx.start(worker)
    if not _caught_up(ctx, timeout=240):
        out.failures.append("the groups did not consume the replay to the end within 240 s")
    time.sleep(3)
    after = case_event_ids(case_events(ctx.bootstrap, ctx.prefix))
    _, feed_after, _ = feed_leaks(ctx.bootstrap, ctx.prefix)
    engine = make_engine(ctx.stack.database_url)
    difference = first_difference(register_before, snapshot(engine))
    engine.dispose()
    out.extra["before"] = {**before, "feed_ids": feed_before}
    out.extra["after"] = {**after, "feed_ids": feed_after}
    for what in before:
        if after[what] != before[what]:
            out.failures.append(f"replay changed distinct {what}: {before[what]} → {after[what]}")
    if feed_after != feed_before:
        out.failures.append(f"replay added feed entries: {feed_before} → {feed_after}")
    if difference is not None:
        out.failures.append(f"replay changed the register: {difference}")
    out.notes += ctx.heal()
    return out


def redelivery_out_of_order(ctx: Context, name: str) -> Outcome:
    plan = ctx.plan()
    # Out of order across sources: every repeat report (hotline, camera, second patrol) before the original.
    repeats = [p for p in plan if "-r-" in p.item.body["client_report_id"]]
    firsts = [p for p in plan if "-r-" not in p.item.body["client_report_id"]]
    ordered = [Planned(p.item, p.violation, copies=4) for p in repeats + firsts]
    ctx.driver.run(name, ordered, ctx.duration)
    # And at the broker: the acknowledged findings' records published again, three times each.
    acked = {a.finding_id for a in ctx.history.for_scenario(name)}
    topic = FINDINGS.name(ctx.prefix)
    again = [(topic, k, list(h.items()), v) for k, v, h in read_records(ctx.bootstrap, topic)
             if h.get("ce_id", b"").decode() in acked]
    poison.send(ctx.bootstrap, again * 3)
    statuses = dict(ctx.history.statuses[name])
    return Outcome(f"{len(ordered)} submissions, each posted 4 times concurrently (same client_report_id), repeat "
                   f"reports from other sources sent before the originals; then {len(again)} acknowledged findings "
                   "re-published 3 times each on the findings topic",
                   [f"HTTP statuses: {statuses}"], extra={"http_statuses": statuses})


def clock_skew(ctx: Context, name: str) -> Outcome:
    rng = random.Random(7)
    plan = skew(ctx.plan(), rng)
    ctx.driver.run(name, plan, ctx.duration)
    # A device clock hours fast: refused (422), as the trusted clock says it has not happened yet.
    item = plan[0].item
    future = dict(item.body, client_report_id=item.body["client_report_id"] + "-future",
                  observed_at=(datetime.now(UTC) + timedelta(hours=3)).isoformat())
    import httpx
    response = httpx.post(f"{ctx.driver.base_url}/v1/findings", json=future, timeout=30,
                          headers={"Authorization": f"Bearer {ctx.driver.tokens[item.principal]}"})
    out = Outcome("observed_at moved 2–10 h into the past (a different skew per device, so repeat reports of one "
                  "violation disagree by hours); one report 3 h in the future", skew_check=True)
    out.extra["future_report_status"] = response.status_code
    if response.status_code != 422:
        out.failures.append(f"a report 3 h in the future got {response.status_code}, expected 422")
    return out


def lose_patrol_store(ctx: Context, name: str) -> Outcome:
    out = Outcome("patrol SIGKILLed mid-stream and its idempotency store deleted (the SQLite file, its WAL and "
                  "shared memory), patrol restarted on an empty store; then every submission acknowledged before "
                  "the loss sent again (the store no longer knows them, so patrol publishes them again; their "
                  "finding ids are derived from reporter and client_report_id, and dispatch must decide each once)")
    store = Path(ctx.stack.extra_env["LIANDONG_PATROL_STORE_URL"].removeprefix("sqlite:///"))
    plan = ctx.plan()
    before: list[str] = []

    def inject() -> None:
        before.extend(a.client_report_id for a in ctx.history.for_scenario(name))
        ctx.proc("patrol").kill()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        ctx.start("patrol")
    thread = ctx.driver.start(name, plan, ctx.duration)
    ctx.wait_acked(name, len(plan) // 3)
    inject()
    thread.join()
    known = set(before)
    again = [Planned(p.item, p.violation) for p in plan
             if p.item.body["client_report_id"] in known and not p.item.resend]
    ids_before = {a.client_report_id: a.finding_id for a in ctx.history.for_scenario(name)}
    ctx.driver.run(name, again, ctx.duration)
    answers = [a for a in ctx.history.for_scenario(name) if a.client_report_id in known]
    new_ids = {a.finding_id for a in answers} - set(ids_before.values())
    out.extra["acknowledged_before_the_loss"] = len(known)
    out.extra["sent_again"] = len(again)
    out.extra["answered_with_a_new_finding_id"] = len(new_ids)
    out.notes.append(f"{len(again)} acknowledged submissions sent again after the loss; {len(new_ids)} got a "
                     "finding id other than their first answer's")
    statuses = dict(ctx.history.statuses[name])
    out.extra["http_statuses"] = statuses
    return out


def lose_register_db(ctx: Context, name: str) -> Outcome:
    out = Outcome("the register's database lost mid-stream: the info_share worker and API SIGKILLed, the SQLite "
                  "file (with its WAL and shared memory) deleted; the register rebuilt from the topics "
                  "(services.info_share.entrypoints.cli_rebuild, the documented recovery) while findings keep "
                  "arriving; worker and API restarted on it")
    database = Path(ctx.stack.database_url.removeprefix("sqlite:///"))
    rebuilt: list[Any] = []

    def inject() -> None:
        ctx.proc(INFO_SHARE).kill()
        ctx.proc("info-share-api").kill()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        engine = make_engine(ctx.stack.database_url)
        try:
            began = time.monotonic()
            rebuilt.append(rebuild(engine, bootstrap_servers=ctx.bootstrap, topic_prefix=ctx.prefix))
            out.extra["rebuild_seconds"] = round(time.monotonic() - began, 1)
        finally:
            engine.dispose()
        ctx.start(INFO_SHARE)
        ctx.start("info-share-api")
    _mid_stream(ctx, name, inject)
    if rebuilt:
        report = rebuilt[0]
        out.extra["rebuild"] = {"applied": report.applied, "duplicates": report.duplicates,
                                "orphans": report.orphans, "not_applicable": report.not_applicable}
    return out


SCENARIOS: list[tuple[str, Scenario]] = [
    ("sigkill_dispatch", sigkill_dispatch),
    ("sigterm_dispatch", sigterm_dispatch),
    ("sigstop_dispatch", sigstop_dispatch),
    ("kill_broker", kill_broker),
    ("kill_info_share", kill_info_share),
    ("poison_input", poison_input),
    ("replay_from_zero", replay_from_zero),
    ("redelivery_out_of_order", redelivery_out_of_order),
    ("clock_skew", clock_skew),
    ("lose_patrol_store", lose_patrol_store),
    ("lose_register_db", lose_register_db),
]

__all__ = ["SCENARIOS", "Context", "Outcome", "read_tolerant"]
