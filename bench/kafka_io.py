"""Kafka plumbing for the benchmarks: produce prepared records, offsets and group lag, timestamps of a run's output."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from services.common.envelope import Record
from services.common.outbox import Outbox

Offsets = dict[TopicPartition, int]


@dataclass(frozen=True)
class Span:
    """What a run wrote to some topics: how many records, first and last broker timestamps (CreateTime, ms)."""

    records: int
    first_ms: int
    last_ms: int
    middle_ms: int  # when every partition had written half of its records (the latest of the midpoints)

    def rate_per_s(self, items: int) -> float:
        """Items per second between the first and the last record (``items - 1`` intervals)."""
        return (items - 1) / max((self.last_ms - self.first_ms) / 1000, 1e-3)

    def second_half_rate_per_s(self, items: int) -> float:
        """Items per second over the second half of the output: the rate once start-up effects are over."""
        return (items / 2) / max((self.last_ms - self.middle_ms) / 1000, 1e-3)


async def _produce(bootstrap_servers: str, topic: str, records: Sequence[Record], **options: object) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, **options)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def produce(bootstrap_servers: str, topic: str, records: Sequence[Record], **options: object) -> float:
    """Send all records and wait for every acknowledgement; returns records per second."""
    return asyncio.run(_produce(bootstrap_servers, topic, records, **options))


def bare_producer_rate(bootstrap_servers: str, topic: str, records: Sequence[Record]) -> float:
    """The Python producer limit with patrol's producer settings (acks=all, idempotent, linger 2 ms)."""
    return produce(bootstrap_servers, topic, records, acks="all", enable_idempotence=True, linger_ms=2)


def preload(bootstrap_servers: str, topic: str, records: Sequence[Record]) -> float:
    return produce(bootstrap_servers, topic, records, acks="all", linger_ms=20, max_batch_size=512 * 1024)


def records_in_topics(bootstrap_servers: str, prefixes: Iterable[str]) -> int:
    """Records on every topic whose name starts with one of ``prefixes`` (sum of end offsets)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="liandong-bench")
    try:
        topics = [t for t in admin.list_topics() if t.startswith(tuple(prefixes))]
    finally:
        admin.close()
    return sum(end_offsets(bootstrap_servers, topics).values()) if topics else 0


def end_offsets(bootstrap_servers: str, topics: Iterable[str]) -> Offsets:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def committed_total(bootstrap_servers: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (0 before its first commit)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="liandong-bench")
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def wait_for_commit(bootstrap_servers: str, group: str, topic: str, total: int, timeout_seconds: float,
                    alive: object = None) -> float:
    """Poll the group's committed offsets until they reach ``total``; returns the seconds waited."""
    started = time.monotonic()
    while committed_total(bootstrap_servers, group, topic) < total:
        if time.monotonic() - started > timeout_seconds:
            raise TimeoutError(f"group {group} did not commit {total} offsets on {topic} in {timeout_seconds}s")
        if callable(alive) and not alive():
            raise RuntimeError(f"the consumer of group {group} died")
        time.sleep(1.0)
    return time.monotonic() - started


def span_since(bootstrap_servers: str, before: Offsets) -> Span:
    """First and last broker timestamps of the records written after ``before`` (per partition, min and max)."""
    after = end_offsets(bootstrap_servers, {tp.topic for tp in before})
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    first: list[int] = []
    middle: list[int] = []
    last: list[int] = []
    try:
        for tp, end in after.items():
            start = before.get(tp, 0)
            if end <= start:
                continue
            first.append(_timestamp_at(consumer, tp, start))
            middle.append(_timestamp_at(consumer, tp, start + (end - start) // 2))
            last.append(_timestamp_at(consumer, tp, end - 1))
    finally:
        consumer.close()
    if not first:
        raise RuntimeError("no records were written")
    return Span(sum(after[tp] - before.get(tp, 0) for tp in after), min(first), max(last), max(middle))


def _timestamp_at(consumer: KafkaConsumer, tp: TopicPartition, offset: int) -> int:
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for record in consumer.poll(timeout_ms=1000, max_records=1).get(tp, []):
            return int(record.timestamp)
    raise TimeoutError(f"no record at {tp.topic}[{tp.partition}]@{offset}")


async def _passthrough(bootstrap_servers: str, source: str, destination: str, group: str, total: int,
                       batched: bool, copies: float) -> None:
    # The dispatch worker's consumer and producer settings (acks=all, idempotent), commit after the acks. ``batched``
    # hands the records over through the same outbox as the worker (one record batch per partition); otherwise
    # one ``send`` per record. ``copies``: records written per record read, on average (1 for a plain passthrough).
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap_servers, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True,
                                linger_ms=2, max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    partition_ids: dict[str, list[int]] = {}
    try:
        seen = 0
        owed = 0.0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if batched:
                outbox = Outbox(producer, partition_ids)
                for messages in batches.values():
                    for message in messages:
                        owed += copies
                        while owed >= 1:
                            await outbox.add(destination, message.value, key=message.key,
                                             headers=list(message.headers))
                            owed -= 1
                        seen += 1
                await outbox.send()
            else:
                futures = []
                for messages in batches.values():
                    for message in messages:
                        futures.append(await producer.send(destination, message.value, key=message.key,
                                                           headers=list(message.headers)))
                await asyncio.gather(*futures)
                seen += len(futures)
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def passthrough(bootstrap_servers: str, source: str, destination: str, group: str, total: int,
                batched: bool = True, copies: float = 1.0) -> Span:
    """A bare consume→produce loop (no decoding, no work) over ``total`` messages; its output span."""
    before = end_offsets(bootstrap_servers, [destination])
    asyncio.run(_passthrough(bootstrap_servers, source, destination, group, total, batched, copies))
    return span_since(bootstrap_servers, before)
