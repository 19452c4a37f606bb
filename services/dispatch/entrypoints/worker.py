"""The dispatch worker: consume findings and responses, call the Dispatcher, publish, then commit. Plain aiokafka.

Why not Faust here: dispatch's state has to follow its partitions through crashes and rebalances, and faust-streaming's
table recovery can stall after a rebalance (seen in this project's kill tests; upstream issues 21, 74, 216, 93 of
faust-streaming, robinhood/faust 218 and 517). This loop is small enough to be read whole and proven by tests:

1. One consumer group over the findings and referral-responses topics, range assignment: both topics have the same
   partition count and key (the dedup group), so partition p of each lands on the same worker with state p.
2. On assignment, each owned partition's state is brought up to its changelogs' end offsets: the RocksDB store
   (``disk_state.DiskStateStore``, the default) reads only the records after the offsets it stored with its last
   checkpoint, the in-memory one (``state.StateStore``) reads a newly owned partition, or a kept one whose changelog
   another worker wrote to meanwhile, from the start.
3. Each batch: decode, decide, collect outputs and changelog records in an outbox (one record batch per topic
   partition), wait until the broker has all of them
   (acks=all, idempotent producer), checkpoint the store (the RocksDB store writes the batch's rows with the
   changelog offsets they reach), then commit the input offsets. A crash anywhere before the commit means the
   batch is processed again: the Dispatcher re-emits the same events with the same ids (service.py), never new ones.
4. A batch and a rebalance never overlap (one lock), and a worker that was frozen long enough to lose its partitions
   stops instead of acting on them (``PauseGuard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaTimeoutError
from aiokafka.structs import ConsumerRecord

from schemas.events import RESPONSE_TOPIC_MODELS, DeadlineCheck, FindingReported, ReferralIssued, StateSweep
from services.common.dead_letters import dead_letter
from services.common.envelope import PoisonEvent, decode, encode
from services.common.kafka_admin import TopicCreator, body_topics, ensure_topics
from services.common.outbox import HandedOver, Outbox
from services.common.pause_guard import PauseGuard, stop_on_unexpected_error
from services.common.topics import (
    CASE_EVENTS,
    DEAD_LETTERS,
    DEDUP_PARTITIONS,
    FINDINGS,
    REFERRAL_RESPONSES,
    RESPONSES_FAMILY,
    TopicSpec,
    referrals_topic,
)
from services.common.worker_main import stop_on_signals
from services.dispatch.adapters import metrics
from services.dispatch.adapters.disk_state import DiskStateStore
from services.dispatch.adapters.state import StateStore, restore_plan
from services.dispatch.domain import dedup
from services.dispatch.entrypoints import observe
from services.dispatch.service import (
    CASE_FILES_TABLE,
    OVERDUE_TABLE,
    REFERRALS_TABLE,
    Dispatcher,
    ForgedCommand,
    Outgoing,
)
from services.dispatch.settings import DispatchSettings
from services.reference.loader import ReferenceData

log = logging.getLogger("liandong.dispatch")
TABLE_NAMES = (dedup.CASES_TABLE, dedup.MEMBERS_TABLE, CASE_FILES_TABLE, REFERRALS_TABLE, OVERDUE_TABLE)
SOURCE = "/dispatch"
MAX_BATCH = 500
# How long a starting worker waits for the broker to serve its partitions before it gives up (and is restarted).
SERVED_WAIT_SECONDS = 300.0


def group_id(settings: DispatchSettings) -> str:
    return f"{settings.group_prefix}-dispatch"


def changelog_topic(group: str, table: str) -> str:
    return f"{group}-{table}-changelog"


Store = StateStore | DiskStateStore


def state_store(settings: DispatchSettings, group: str) -> Store:
    """The worker's tables, each with its changelog topic: on disk (``LIANDONG_DISPATCH_STATE=rocksdb``, one
    database per owned partition under the state directory) or in memory. In memory the dedup rows are kept
    encoded: they are read only to rebuild the index and to replay a decision, and the index holds them as objects."""
    topics = {name: changelog_topic(group, name) for name in TABLE_NAMES}
    if settings.dispatch_state == "rocksdb":
        return DiskStateStore(topics, Path(settings.dispatch_state_dir) / group)
    return StateStore(topics, encoded=frozenset({dedup.CASES_TABLE, dedup.MEMBERS_TABLE}))


def changelog_specs(group: str) -> list[tuple[str, TopicSpec]]:
    """The tables' changelog topics: compacted, partitioned like the input topics."""
    return [(changelog_topic(group, name),
             TopicSpec(f"{name}-changelog", DEDUP_PARTITIONS, "table key", f"changelog of dispatch table {name}",
                       {"cleanup.policy": "compact"}))
            for name in TABLE_NAMES]


class DispatchWorker(ConsumerRebalanceListener):
    def __init__(self, settings: DispatchSettings, reference: ReferenceData, store: Store,
                 dispatcher: Dispatcher) -> None:
        """Built by ``wiring.build_worker``: ``dispatcher`` decides over ``store``'s tables."""
        self.settings = settings
        self.group = group_id(settings)
        self.reference = reference
        prefix = settings.topic_prefix
        self.findings_topic = FINDINGS.name(prefix)
        self.responses_topic = REFERRAL_RESPONSES.name(prefix)
        self.case_events_topic = CASE_EVENTS.name(prefix)
        self.dead_letters_topic = DEAD_LETTERS.name(prefix)
        self.store = store
        self.changelog_topics = frozenset(table.changelog_topic for table in store.tables.values())
        self.partition_ids: dict[str, list[int]] = {}  # topic -> its partitions, for the outbox's partitioner
        self.dispatcher = dispatcher
        # A member is dropped from its group only after the session timeout; a shorter pause cannot have cost this
        # worker its partitions. The margin covers clock jitter.
        self.pause_guard = PauseGuard(settings.session_timeout_seconds * 0.8, log)
        # A rebalance waits for the batch in flight (see on_partitions_revoked), and the group waits for this
        # member to rejoin for the rebalance timeout, then hands its partitions on. A batch still unfinished after
        # half that time could outlive the membership: the worker stops instead, uncommitted.
        self.batch_deadline_seconds = settings.batch_deadline_seconds
        self.rebalance_timeout_seconds = 2 * settings.batch_deadline_seconds
        self.owned: set[int] = set()
        # Bumped by every revocation: a batch fetched under an earlier assignment is not processed (its records are
        # fetched again, from the committed offsets, by whoever owns them now).
        self.assignment_epoch = 0
        self.known_topics: set[str] = set()
        self.served_topics: dict[str, int] = {}  # topic -> partitions, as ensured at start
        self.topic_creator = TopicCreator(settings.bootstrap_servers)
        self.delivery = settings.kafka_delivery()
        self.batch_lock = asyncio.Lock()
        self.finishing: asyncio.Task[None] | None = None  # acks and commit of the last batch handed over
        # While partitions are read back the tables are half loaded (a referral without its case file yet): the
        # timers that read them skip their turn.
        self.restoring = False
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer
        self.producer: AIOKafkaProducer

    # -- start and stop -----------------------------------------------------------------------------------------

    def prepare_topics(self) -> None:
        # Every known body's referrals topic exists before the first finding: creating one on the hot path costs a
        # broker round trip per new body. Only the bodies Kafka delivery covers have topics (common/delivery.py).
        bodies = body_topics(self.delivery.bodies(body.body_id for body in self.reference.bodies()),
                             self.settings.topic_prefix)
        ensure_topics(self.settings.bootstrap_servers, self.settings.topic_prefix,
                      extra=[*changelog_specs(self.group), *bodies], timeout_seconds=120)
        self.known_topics = {name for name, _spec in bodies}
        prefix = self.settings.topic_prefix
        self.served_topics = {spec.name(prefix): spec.partitions
                              for spec in (FINDINGS, REFERRAL_RESPONSES, CASE_EVENTS, DEAD_LETTERS)}
        # The bodies' responses topics are the relay's to read; dispatch neither reads nor writes them.
        self.served_topics.update({name: spec.partitions for name, spec in [*changelog_specs(self.group), *bodies]
                                   if spec is not RESPONSES_FAMILY})

    async def run(self) -> None:
        loop = stop_on_signals(self.stopping)
        await loop.run_in_executor(None, self.prepare_topics)
        servers = self.settings.bootstrap_servers
        self.producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True,
                                         linger_ms=2, max_batch_size=256 * 1024, client_id=self.group)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=self.group, client_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
            rebalance_timeout_ms=int(self.rebalance_timeout_seconds * 1000),
            heartbeat_interval_ms=int(min(3.0, self.settings.session_timeout_seconds / 5) * 1000),
            max_poll_records=MAX_BATCH,
        )
        await self.producer.start()
        await self.consumer.start()
        await self._wait_until_served()
        self.consumer.subscribe([self.findings_topic, self.responses_topic], listener=self)
        timers = [asyncio.create_task(self._every(self.settings.deadline_check_interval_seconds, self._ask_checks)),
                  asyncio.create_task(self._every(self.settings.metrics_refresh_interval_seconds, self._gauges)),
                  asyncio.create_task(self._every(self.settings.state_sweep_interval_seconds, self._ask_sweeps)),
                  asyncio.create_task(self.pause_guard.run())]
        log.info("dispatch worker started: group %s", self.group)
        try:
            await self._consume()
        finally:
            stop_after(30)
            for timer in timers:
                timer.cancel()
            await self.consumer.stop()  # leaves the group: its partitions move at once, no session timeout
            await self.producer.stop()
            self.store.close()
            log.info("dispatch worker stopped")

    async def _consume(self) -> None:
        try:
            while not self.stopping.is_set():
                epoch = self.assignment_epoch
                batch = await self.consumer.getmany(timeout_ms=200, max_records=MAX_BATCH)
                if not batch:
                    continue
                async with self.batch_lock:
                    self.pause_guard.check()
                    if epoch != self.assignment_epoch:
                        self._refetch(batch)
                        continue
                    try:
                        await asyncio.wait_for(self._process(batch), self.batch_deadline_seconds)
                    except TimeoutError:
                        self._overran_deadline()
                    except Exception as exc:
                        stop_on_unexpected_error(log, exc)
        finally:
            async with self.batch_lock:
                await self._settle()

    def _overran_deadline(self) -> NoReturn:
        stop_on_unexpected_error(log, RuntimeError(
            f"a batch took longer than {self.batch_deadline_seconds:.1f}s: the group may give its partitions to "
            "another worker before it could commit, so it must not finish"))

    def _refetch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Leave a batch that a rebalance overtook unprocessed: its records are read again by their owner.

        The batch may hold records of partitions this worker owns now too; its position has moved past them, so it
        is moved back, or they would be skipped (and committed past) until the next rebalance.
        """
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if tp in assigned:
                self.consumer.seek(tp, records[0].offset)
        log.info("a batch fetched before a rebalance is read again from its first records")

    # -- one batch ------------------------------------------------------------------------------------------------

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Decide a batch and hand its records to the producer; the acks and the commit follow in the background.

        While the broker acknowledges batch N, batch N+1 is decided (the CPU and the broker work at the same time).
        Commits stay in input order: each finishing step waits for the one before. A rebalance and a stop wait for
        every batch in flight to commit (``_settle``).
        """
        outbox = Outbox(self.producer, self.partition_ids)
        offsets = {}
        for tp, records in batch.items():
            if tp.partition not in self.owned:
                continue  # fetched before a rebalance took the partition away
            with self.store.processing(tp.partition):
                for record in records:
                    await self._handle(record, outbox)
            offsets[tp] = records[-1].offset + 1
        for change in self.store.take_pending():
            await outbox.add(change.topic, change.value, key=change.key, partition=change.partition)
        handed = await outbox.hand_over()
        finishing = asyncio.create_task(
            asyncio.wait_for(self._finish(self.finishing, handed, offsets), self.batch_deadline_seconds))
        finishing.add_done_callback(self._finished)
        self.finishing = finishing

    async def _finish(self, previous: asyncio.Task[None] | None, handed: HandedOver,
                      offsets: dict[TopicPartition, int]) -> None:
        if previous is not None:
            # A batch whose predecessor did not commit must not commit either: its offsets would cover the
            # predecessor's records. (Its failure is reported by its own callback; this one repeats it.)
            await asyncio.shield(previous)
        ends: dict[tuple[str, int], int] = {}
        for written in await handed.acknowledged():
            if written.topic in self.changelog_topics:
                where = (written.topic, written.partition)
                ends[where] = max(ends.get(where, 0), written.end_offset)
        # The changelog has the batch now: the store may keep it (on disk, with these offsets) before the commit.
        self.store.checkpoint(ends)
        if offsets:
            await self.consumer.commit(offsets)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, CommitFailedError):
            # The group rebalanced under this batch: its outputs are out (same ids if processed again), its offsets
            # are not committed, and the new owner will process it again.
            log.warning("commit refused after a rebalance; the batch will be processed again: %s", exc)
        elif isinstance(exc, TimeoutError):
            self._overran_deadline()
        else:
            stop_on_unexpected_error(log, exc)

    async def _settle(self) -> None:
        """Wait until every batch in flight is acknowledged and committed (or its commit refused)."""
        finishing, self.finishing = self.finishing, None
        if finishing is not None:
            with contextlib.suppress(CommitFailedError):
                await asyncio.shield(finishing)

    async def _handle(self, record: ConsumerRecord, outbox: Outbox) -> None:
        try:
            if record.topic == self.findings_topic:
                _ce, finding = decode(record.headers or [], record.value, [FindingReported])
                if not record.key:
                    raise PoisonEvent("finding without a key (the dedup group)")
                unknown = self.dispatcher.unknown_reference(finding)  # type: ignore[arg-type]
                if unknown:
                    raise PoisonEvent(unknown)
                await self._publish(self.dispatcher.on_finding(finding, record.key.decode()), outbox)  # type: ignore[arg-type]
                return
            ce, command = decode(record.headers or [], record.value, RESPONSE_TOPIC_MODELS)
            if isinstance(command, DeadlineCheck):
                # Only dispatch's own timer asks for deadline checks; the secured broker lets no body write this
                # topic, and a check from anywhere else is refused here too, never acted on.
                if ce.get_source() != SOURCE:
                    raise PoisonEvent(f"deadline check from {ce.get_source()!r}: only {SOURCE} sends them")
                try:
                    outgoing = self.dispatcher.on_deadline_check(command)
                except ForgedCommand as exc:
                    raise PoisonEvent(str(exc)) from None
                await self._publish(outgoing, outbox)
                return
            if isinstance(command, StateSweep):
                if ce.get_source() != SOURCE:
                    raise PoisonEvent(f"state sweep from {ce.get_source()!r}: only {SOURCE} sends them")
                cases = self.store.tables[dedup.CASES_TABLE]
                try:
                    dropped = self.dispatcher.on_state_sweep(
                        command, lambda case_id: cases.partition_of(case_id) == record.partition)
                except ForgedCommand as exc:
                    raise PoisonEvent(str(exc)) from None
                for what, count in dropped.items():
                    metrics.STATE_SWEPT.labels(what).inc(count)
                return
        except PoisonEvent as exc:
            await self._dead_letter(record, exc.reason, outbox)
            return
        await self._publish(self.dispatcher.on_response(command), outbox)  # type: ignore[arg-type]

    async def _publish(self, outgoing: list[Outgoing], outbox: Outbox) -> None:
        for out in outgoing:
            if not out.replay:
                observe.record(out.model, self.dispatcher)
            record = encode(out.model, event_id=out.event_id, source=SOURCE, key=out.key, subject=out.key)
            if out.case_events:
                await outbox.add(self.case_events_topic, record.value, key=record.key, headers=record.headers)
            for body_id in ((out.referral_body_id,) if out.referral_body_id else ()) + out.copy_to:
                if not self.delivery.covers(body_id):
                    continue  # it reads the referral through the lifecycle API, from case-events' projection
                topic = await self._referral_topic(body_id)
                await outbox.add(topic, record.value, key=record.key, headers=record.headers)
            if isinstance(out.model, ReferralIssued) and out.model.attempt == 1 and not out.replay:
                metrics.E2E_SECONDS.observe(
                    max(0.0, (datetime.now(UTC) - out.model.finding.received_at).total_seconds()))

    async def _dead_letter(self, record: ConsumerRecord, reason: str, outbox: Outbox) -> None:
        log.warning("dead letter from %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        letter = dead_letter("dispatch", record.key, record.value, record.headers or [], reason, record.topic,
                             record.partition, record.offset)
        await outbox.add(self.dead_letters_topic, letter.value, key=letter.key, headers=letter.headers)

    async def _referral_topic(self, body_id: str) -> str:
        name = referrals_topic(body_id, self.settings.topic_prefix)
        if name not in self.known_topics:  # a body the reference data did not know at start
            for topic, spec in body_topics([body_id], self.settings.topic_prefix):
                await asyncio.get_running_loop().run_in_executor(None, self.topic_creator.ensure, topic, spec)
            self.known_topics.add(name)
        return name

    # -- rebalances -----------------------------------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # Waits for the batches in flight: they commit before the partitions can go to another worker.
        async with self.batch_lock:
            await self._settle()
            # Batches whose commit was refused never checkpointed: their writes are not the store's to keep (they
            # are processed again by the partition's next owner; the changelog has what they wrote).
            self.store.discard_unwritten()
            self.assignment_epoch += 1

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        async with self.batch_lock:
            await self._take_partitions({tp.partition for tp in assigned})

    async def _take_partitions(self, partitions: set[int]) -> None:
        self.restoring = True
        try:
            await self._restore_partitions(partitions)
        finally:
            self.restoring = False

    async def _restore_partitions(self, partitions: set[int]) -> None:
        started = time.perf_counter()
        lost = self.owned - partitions
        self.store.own(partitions)
        read, records, wiped = await self._restore(partitions)
        self.owned = partitions
        rebuild_started = time.perf_counter()
        with self.pause_guard.excused():  # synchronous: the guard's ticker cannot run meanwhile
            size = self.dispatcher.rebuild_index()
        log.info("partitions %s: restored %s from %d changelog records (from the start: %s) and dropped %s in "
                 "%.2fs; dedup index rebuilt: %d open cases in %.2fs", sorted(partitions), sorted(read), records,
                 sorted(wiped), sorted(lost), rebuild_started - started, size, time.perf_counter() - rebuild_started)

    async def _wait_until_served(self) -> None:
        """Wait until the broker serves every partition this worker reads or writes.

        Right after topics are created a broker may answer NotLeaderForPartition for a few seconds; a batch or a
        restore must not spend that time inside the group (it would hold a rebalance up), so it is spent here.
        """
        started = time.perf_counter()
        tps = [TopicPartition(topic, p) for topic, count in self.served_topics.items() for p in range(count)]
        probe = self._reader("probe")
        await probe.start()
        try:
            probe.assign(tps)  # assigned topics are the ones a consumer keeps metadata for
            # A busy broker electing leaders for hundreds of new partitions can take longer than one request's
            # timeout; waiting is this method's whole purpose, so it asks again rather than let the worker die.
            while True:
                try:
                    await probe.end_offsets(tps)
                    break
                except KafkaTimeoutError:
                    if time.perf_counter() - started > SERVED_WAIT_SECONDS:
                        raise
                    log.warning("broker does not serve all %d partitions yet (%.0fs); asking again", len(tps),
                                time.perf_counter() - started)
        finally:
            await probe.stop()
        log.info("broker serves all %d partitions (%.1fs)", len(tps), time.perf_counter() - started)

    def _reader(self, purpose: str) -> AIOKafkaConsumer:
        """A consumer outside any group, for reading changelogs and probing partitions."""
        # auto_offset_reset="earliest": aiokafka resets an assigned partition's position by that policy in the
        # background, and a "latest" reset landing after seek_to_beginning once skipped a whole changelog.
        return AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers, enable_auto_commit=False,
                                group_id=None, client_id=f"{self.group}-{purpose}", auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)

    async def _restore(self, partitions: set[int]) -> tuple[set[int], int, set[int]]:
        """Bring the owned partitions' state up to their changelogs' current end offsets.

        Each changelog partition is read from the store's ``position`` to its end. A position the changelog cannot
        continue (past its end or before its start: a topic recreated or truncated), or any change at all for a
        store that cannot catch up (the in-memory one), wipes that input partition and reads its changelogs from
        the start. Returns the partitions read, the records read and the partitions read from the start.
        """
        if not partitions:
            return set(), 0, set()
        reader = self._reader("restore")
        await reader.start()
        count = 0
        try:
            tps = [TopicPartition(table.changelog_topic, p) for table in self.store.tables.values()
                   for p in sorted(partitions)]
            reader.assign(tps)
            starts = await reader.beginning_offsets(tps)
            ends = await reader.end_offsets(tps)
            positions = {(tp.topic, tp.partition): self.store.position(tp.topic, tp.partition) for tp in tps}
            reads, wiped = restore_plan(positions, {(tp.topic, tp.partition): o for tp, o in starts.items()},
                                        {(tp.topic, tp.partition): o for tp, o in ends.items()}, self.store.resumable)
            for partition in sorted(wiped):
                self.store.reset(partition)
            behind = {TopicPartition(*where) for where in reads}
            for tp in behind:
                reader.seek(tp, reads[(tp.topic, tp.partition)])
            log.info("reading changelogs: %d records in %d partitions",
                     sum(ends[tp] - reads[(tp.topic, tp.partition)] for tp in behind), len(behind))
            remaining = set(behind)
            while remaining:
                fetched = await reader.getmany(*remaining, timeout_ms=500, max_records=50_000)
                for tp, records in fetched.items():
                    # Offsets past the end (written since end_offsets was asked) are left to the next restore.
                    kept = [(record.key, record.value) for record in records if record.offset < ends[tp]]
                    if records:
                        self.store.load(tp.topic, tp.partition, kept, min(records[-1].offset + 1, ends[tp]))
                    count += len(kept)
                # The position, not a record at end - 1: the last offsets may hold no record (compaction, markers).
                for tp in list(remaining):
                    if await reader.position(tp) >= ends[tp]:
                        self.store.load(tp.topic, tp.partition, (), ends[tp])
                        remaining.discard(tp)
            for tp in tps:  # an empty changelog partition, and one already at its end: the store holds it to there
                if tp not in behind:
                    self.store.load(tp.topic, tp.partition, (), ends[tp])
        finally:
            await reader.stop()
        log.info("changelogs read: %d records", count)
        return {tp.partition for tp in behind}, count, wiped

    # -- timers ----------------------------------------------------------------------------------------------------

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception as exc:
                stop_on_unexpected_error(log, exc)

    async def _ask_checks(self) -> None:
        # Only asks: the check is handled with the referral's own responses, in order, by whoever owns it then.
        if self.restoring:
            return
        for key, check in self.dispatcher.due_checks(datetime.now(UTC)):
            record = encode(check, event_id=f"deadline-check:{check.referral_id}:{check.checked_at.isoformat()}",
                            source=SOURCE, key=key, subject=check.case_id)
            await self.producer.send_and_wait(self.responses_topic, record.value, key=record.key,
                                              headers=record.headers)
            metrics.DEADLINE_CHECKS.inc()

    async def _ask_sweeps(self) -> None:
        # One sweep per partition this worker owns, on that partition: applied in order with its events.
        if self.restoring:
            return
        sweep = StateSweep(swept_at=datetime.now(UTC))
        for partition in sorted(self.owned):
            record = encode(sweep, event_id=f"state-sweep:{partition}:{sweep.swept_at.isoformat()}", source=SOURCE,
                            key=f"state-sweep:{partition}")
            await self.producer.send_and_wait(self.responses_topic, record.value, key=record.key,
                                              headers=record.headers, partition=partition)

    async def _gauges(self) -> None:
        if self.restoring:
            return
        observe.refresh_gauges(self.dispatcher, datetime.now(UTC))


def stop_after(seconds: float) -> None:
    """A clean stop that hangs (a broker gone for good) must not keep the process alive forever."""
    def _exit(*_args: object) -> None:
        os._exit(75)  # EX_TEMPFAIL
    signal.signal(signal.SIGALRM, _exit)
    signal.alarm(int(seconds))
