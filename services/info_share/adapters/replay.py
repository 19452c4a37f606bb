"""Read the case-events and feed topics from the start, and put the case events back in the ledger's order.

The case-events topic has several partitions; the live worker interleaved them in the order it happened to read
them, and that order is the ledger's sequence. The feed topic records it (every ledger entry is published with its
sequence, and re-published after a crash), so a replay applies the case events in feed-sequence order and gets the
same sequences and hashes. Events with no feed entry yet (the worker was behind) come last, each partition in offset
order, partitions merged by occurred_at.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from kafka import KafkaConsumer, TopicPartition

from schemas.events import CASE_EVENT_MODELS, FeedEntry
from services.common.envelope import PoisonEvent, decode
from services.info_share.adapters.register.projection import CaseEvent


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Positioned:
    """A decoded case event and where it was read."""

    partition: int
    offset: int
    event: CaseEvent


@dataclass
class Plan:
    ordered: list[Positioned] = field(default_factory=list)
    expected_sequence: dict[str, int] = field(default_factory=dict)  # event_id -> sequence the feed recorded
    sequence_holes: list[int] = field(default_factory=list)  # sequences missing from the feed
    unsequenced: int = 0  # case events with no feed entry (yet)
    feed_only: int = 0  # feed entries whose case event is not on the topic


def read_topic(bootstrap_servers: str, topic: str, timeout_ms: int = 1000) -> list[TopicRecord]:
    """Every record on ``topic`` up to its end offsets as of now (all partitions, from offset 0)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise LookupError(f"topic {topic} does not exist")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[TopicRecord] = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for tp, batch in consumer.poll(timeout_ms=timeout_ms).items():
                records += [TopicRecord(tp.partition, r.offset, r.key, r.value or b"", list(r.headers))
                            for r in batch if r.offset < end[tp]]
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def decode_case_events(records: Iterable[TopicRecord]) -> tuple[list[Positioned], int]:
    """Decoded case events in (partition, offset) order, and how many were unreadable (the worker dead-lettered
    those too)."""
    events, poison = [], 0
    for record in records:
        try:
            _ce, model = decode(record.headers, record.value, CASE_EVENT_MODELS)
        except PoisonEvent:
            poison += 1
            continue
        events.append(Positioned(record.partition, record.offset, cast(CaseEvent, model)))
    return events, poison


def feed_sequences(records: Iterable[TopicRecord]) -> dict[str, int]:
    """event_id -> sequence, from the feed topic (an entry re-published after a crash carries the same sequence)."""
    sequences: dict[str, int] = {}
    for record in records:
        try:
            _ce, entry = decode(record.headers, record.value, [FeedEntry])
        except PoisonEvent:
            continue
        assert isinstance(entry, FeedEntry)
        sequences.setdefault(entry.event_id, entry.sequence)
    return sequences


def plan(events: Sequence[Positioned], sequences: dict[str, int]) -> Plan:
    """The order to apply ``events`` in so the ledger gets the sequences the feed recorded (pure)."""
    first: dict[str, Positioned] = {}
    for positioned in sorted(events, key=lambda p: (p.partition, p.offset)):
        first.setdefault(positioned.event.event_id, positioned)  # a re-emitted event keeps its first copy
    sequenced = sorted((p for p in first.values() if p.event.event_id in sequences),
                       key=lambda p: sequences[p.event.event_id])
    pending: dict[int, list[Positioned]] = defaultdict(list)
    for p in first.values():
        if p.event.event_id not in sequences:
            pending[p.partition].append(p)
    result = Plan(expected_sequence={p.event.event_id: sequences[p.event.event_id] for p in sequenced},
                  unsequenced=sum(len(v) for v in pending.values()),
                  feed_only=len(set(sequences) - set(first)))
    seen = sorted(set(sequences.values()))
    result.sequence_holes = sorted(set(range(1, (seen[-1] if seen else 0) + 1)) - set(seen))
    for p in sequenced:
        # Anything earlier on the same partition was read (and applied) by the live worker before this event.
        queue = pending[p.partition]
        while queue and queue[0].offset < p.offset:
            result.ordered.append(queue.pop(0))
        result.ordered.append(p)
    result.ordered += _merge_by_time(pending)
    return result


def _merge_by_time(pending: dict[int, list[Positioned]]) -> list[Positioned]:
    heap = [(queue[0].event.occurred_at, partition, 0) for partition, queue in pending.items() if queue]
    heapq.heapify(heap)
    merged = []
    while heap:
        _at, partition, index = heapq.heappop(heap)
        merged.append(pending[partition][index])
        if index + 1 < len(pending[partition]):
            heapq.heappush(heap, (pending[partition][index + 1].event.occurred_at, partition, index + 1))
    return merged
