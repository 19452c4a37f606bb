"""Issue 7: kill the info-share worker's database connections, several times, while it projects case events into
PostgreSQL; the register catches up with no gaps or repeats.

The real worker process (``python -m services.info_share.entrypoints.worker``) consumes a day of case events made by
dispatch's own service layer (redeliveries included, as dispatch re-emits for a re-sent finding) while a thread
publishes them in chunks. Meanwhile the test terminates every backend of the register database from the server side
(``pg_terminate_backend``, as an administrator, a failover or a connection-killing proxy would). The documented
failure policy is: database unavailable → retried with backoff, nothing skipped; an unexpected error → exit 70
without committing, read again after a restart. Should the worker exit, it is restarted, as a supervisor would, and
recorded. Then: every published case event is in the ledger exactly once, the ledger and the feed have every
sequence once, the hash chain verifies, and the register equals a rebuild from the topics.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import Engine

from schemas.events import FeedEntry
from services.common.envelope import encode
from services.common.kafka_admin import ensure_topics
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.dispatch.service import Outgoing
from services.info_share.adapters.register.database import make_engine
from services.info_share.adapters.register.snapshot import first_difference, snapshot
from services.info_share.entrypoints.cli_rebuild import RebuildReport, rebuild
from services.info_share.entrypoints.cli_verify_ledger import verify
from tests.databases import fresh_postgres_database
from tests.dispatch_fixtures import new_dispatcher, sample_findings
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events, read_records

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CHUNKS = 8  # the day is published in this many chunks while the worker runs
CHUNK_PAUSE_SECONDS = 1.0
KILL_EVERY_SECONDS = (0.05, 0.4)  # a random pause between two kills
CATCH_UP_SECONDS = 300
TERMINATE = ("SELECT pid, state, pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
IN_TRANSACTION = {"active", "idle in transaction", "idle in transaction (aborted)"}


@dataclass
class Kill:
    at: float  # seconds since the worker first started
    ledger_rows: int  # ledger size just before the kill
    backends: list[tuple[int, str | None, bool]]  # (pid, state, terminated)

    @property
    def terminated(self) -> int:
        return sum(1 for _pid, _state, done in self.backends if done)

    @property
    def mid_transaction(self) -> int:
        return sum(1 for _pid, state, done in self.backends if done and state in IN_TRANSACTION)


@dataclass
class History:
    kills: list[Kill] = field(default_factory=list)
    exits: list[tuple[float, int]] = field(default_factory=list)  # (seconds, exit status) of the worker


@pytest.fixture
def register_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, used by the worker alone."""
    yield from fresh_postgres_database(postgres_url, "register")


def dispatched() -> list[Outgoing]:
    """A sample day through dispatch's service layer: what dispatch publishes on case-events, re-emissions included."""
    dispatcher = new_dispatcher()
    return [out for key, finding in sample_findings(days=1) for out in dispatcher.on_finding(finding, key)]


def publish_in_chunks(bootstrap: str, topic: str, outgoing: list[Outgoing], chunks: int, pause: float,
                      errors: list[BaseException]) -> None:
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            size = -(-len(outgoing) // chunks)
            for start in range(0, len(outgoing), size):
                for out in outgoing[start:start + size]:
                    record = encode(out.model, event_id=out.event_id, source="/dispatch", key=out.key,
                                    subject=out.key)
                    producer.send(topic, key=record.key, value=record.value, headers=record.headers)
                producer.flush(30)
                time.sleep(pause)
        finally:
            producer.close()
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)


def committed_to_end(bootstrap: str, topic: str, group: str) -> bool:
    """True when ``group`` has committed every partition of ``topic`` up to its end (it says it processed all)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        committed = admin.list_group_offsets({group: None}).get(group, {})
        return bool(partitions) and all(tp in committed and committed[tp].offset >= end for tp, end in ends.items())
    finally:
        consumer.close()
        admin.close()


def applied_outcome(metrics_url: str, outcome: str) -> float:
    """Sum of liandong_info_share_events_applied_total for one outcome, from the worker's /metrics."""
    with urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("liandong_info_share_events_applied_total{") and f'outcome="{outcome}"' in line)


def compare_with_rebuild(bootstrap: str, prefix: str, live: Engine, rebuilt_url: str,
                         timeout: float) -> tuple[str | None, RebuildReport]:
    """As faults.history.compare_with_rebuild: rebuild into a fresh SQLite file and compare, retried while the worker
    publishes its last feed entries."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        rebuilt = make_engine(f"{rebuilt_url}-{attempt}.db")
        try:
            report = rebuild(rebuilt, bootstrap_servers=bootstrap, topic_prefix=prefix)
            difference = first_difference(snapshot(live), snapshot(rebuilt))
        finally:
            rebuilt.dispose()
        if (difference is None and report.same_order) or time.monotonic() > deadline:
            return difference, report
        time.sleep(2)


def test_killed_database_connections_leave_no_gap_and_no_repeat(make_stack: StackFactory, register_db: str,
                                                                tmp_path: Path) -> None:
    stack = make_stack(database_url=register_db)
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    topic = CASE_EVENTS.name(stack.topic_prefix)
    outgoing = dispatched()
    expected = {out.event_id for out in outgoing}
    assert len(outgoing) > len(expected), "the day must carry re-emitted events (redeliveries) too"
    total = len(expected)

    plain = register_db.replace("postgresql+psycopg://", "postgresql://")
    history = History()
    errors: list[BaseException] = []
    publisher = threading.Thread(target=publish_in_chunks, daemon=True,
                                 args=(stack.bootstrap_servers, topic, outgoing, CHUNKS, CHUNK_PAUSE_SECONDS, errors))
    started = time.monotonic()
    worker = stack.start_info_share_worker()  # migrates the empty database before it is ready
    publisher.start()
    rng = random.Random(7)

    with psycopg.connect(plain, autocommit=True) as admin:
        def ledger_rows() -> int:
            row = admin.execute("SELECT count(*) FROM ledger").fetchone()
            return int(row[0]) if row else 0

        deadline = started + CATCH_UP_SECONDS
        rows, consumed_all, next_offset_check = 0, False, 0.0
        while time.monotonic() < deadline:
            status = worker.process.poll()
            if status is not None:  # what a supervisor does: note it, start it again
                history.exits.append((round(time.monotonic() - started, 1), status))
                worker = stack.start_info_share_worker()
            rows = ledger_rows()
            if not publisher.is_alive():
                if rows >= total:
                    break
                # The worker committed every case event but the register lacks some: a gap, asserted below.
                if time.monotonic() >= next_offset_check:
                    next_offset_check = time.monotonic() + 2
                    if consumed_all := committed_to_end(stack.bootstrap_servers, topic,
                                                        f"{stack.group_prefix}-info-share"):
                        break
            if rows < total:  # kill only while events are still being written
                backends = [(int(pid), state, bool(done)) for pid, state, done in admin.execute(TERMINATE)]
                history.kills.append(Kill(round(time.monotonic() - started, 2), rows, backends))
            time.sleep(rng.uniform(*KILL_EVERY_SECONDS))
        caught_up = round(time.monotonic() - started, 1)
        publisher.join(30)
        assert not errors, f"publishing failed: {errors}"
        assert rows >= total or consumed_all, (
            f"the worker neither caught up nor consumed every case event within {CATCH_UP_SECONDS}s: {rows} of "
            f"{total} in the register; worker exits (seconds, status): {history.exits}")

        # The kills were real, and landed while the worker was writing.
        effective = [k for k in history.kills if k.terminated and k.ledger_rows < total]
        assert effective, f"pg_terminate_backend never terminated a backend mid-stream: {history.kills[:5]}"
        assert len({k.ledger_rows for k in effective}) >= 3, "the kills must be spread over the stream"

        # Every published case event in the register exactly once; the ledger is 1..N.
        ledger = admin.execute("SELECT sequence, event_id FROM ledger ORDER BY sequence").fetchall()
    repeats = {eid: n for eid, n in Counter(eid for _seq, eid in ledger).items() if n > 1}
    assert not repeats, f"case events in the register more than once: {list(repeats.items())[:3]}"
    missing = expected - {eid for _seq, eid in ledger}
    assert not missing, f"{len(missing)} published case events not in the register: {sorted(missing)[:3]}"
    assert {eid for _seq, eid in ledger} == expected, "the register holds events nobody published"
    assert [seq for seq, _eid in ledger] == list(range(1, total + 1)), "the ledger's sequences have a gap"

    live = make_engine(register_db)
    try:
        verdict = verify(live)
        assert verdict.intact, f"ledger chain broken: {verdict.first_break}"
        assert verdict.checked == total

        # Register = rebuild from the topics (the feed gives the order), row for row, hash for hash.
        difference, report = compare_with_rebuild(stack.bootstrap_servers, stack.topic_prefix, live,
                                                  f"sqlite:///{tmp_path / 'rebuilt'}", timeout=60)
        assert difference is None, f"the register differs from a rebuild: {difference}"
        assert report.same_order and report.unsequenced == 0, report.lines()
        assert (report.applied, report.not_applicable, report.poison) == (total, 0, 0), report.lines()
    finally:
        live.dispose()

    # The feed: every sequence, each naming one event (a re-published entry repeats its sequence and event).
    feed: dict[int, set[str]] = defaultdict(set)
    for entry in read_events(stack.bootstrap_servers, FEED.name(stack.topic_prefix), [FeedEntry]):
        assert isinstance(entry, FeedEntry)
        feed[entry.sequence].add(entry.event_id)
    assert sorted(feed) == list(range(1, total + 1)), "the feed topic skipped a sequence"
    assert all(len(ids) == 1 for ids in feed.values()), "one feed sequence names two events"
    assert {seq: next(iter(ids)) for seq, ids in feed.items()} == dict(ledger)
    dead = read_records(stack.bootstrap_servers, DEAD_LETTERS.name(stack.topic_prefix))
    assert dead == [], f"{len(dead)} case events dead-lettered: {[h.get('dlq_reason') for _k, _v, h in dead][:3]}"

    log = worker.log_path.read_text(errors="replace")
    retries = log.count("database unavailable applying")  # services.common.faust_app.apply_until_stored
    assert retries or history.exits, "no kill reached the worker: it neither retried nor exited"
    mid_transaction = sum(k.mid_transaction for k in effective)
    # Duplicates beyond the re-emitted events: a retry after a commit that had succeeded when its connection died.
    duplicates = applied_outcome(f"http://127.0.0.1:{stack.info_share_web_port}/metrics", "duplicate")
    print(f"\n{total} case events ({len(outgoing)} published, {len(outgoing) - total} re-emitted); "
          f"{len(history.kills)} kill rounds, {len(effective)} terminated a backend mid-stream "
          f"({sum(k.terminated for k in effective)} backends, {mid_transaction} inside a transaction); "
          f"worker retries logged: {retries}; duplicates seen by the (last) worker: {duplicates:.0f}; "
          f"worker exits: {history.exits or 'none'}; "
          f"caught up after {caught_up}s")
    # The failure policy says a lost connection is retried, not a crash: an exit here means an unhandled error.
    assert not history.exits, f"the worker exited {history.exits}; log tail:\n{log[-3000:]}"
