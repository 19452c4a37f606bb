"""The outbox against a real broker: records land where ``send`` would put them, in order, with the offsets it says."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.kafka_admin import ensure_topics
from services.common.outbox import Outbox
from services.common.topics import TopicSpec

PARTITIONS = 6


def _make_topics(bootstrap: str, prefix: str, *names: str) -> list[str]:
    topics = [f"{prefix}.outbox-{name}" for name in names]
    ensure_topics(bootstrap, prefix, specs=(),
                  extra=[(t, TopicSpec(t, PARTITIONS, "key", "outbox test")) for t in topics])
    return topics


async def _read_all(bootstrap: str, topic: str) -> dict[int, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[int, list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]] = defaultdict(list)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                found[tp.partition] += [(r.key, r.value, list(r.headers)) for r in records]
        return found
    finally:
        await consumer.stop()


def test_keyed_records_land_where_send_puts_them_in_order(kafka_bootstrap: str, unique_id: str) -> None:
    by_outbox, by_send = _make_topics(kafka_bootstrap, f"t{unique_id}", "batched", "sent")
    # 40 keys, several records each, interleaved: order must hold per key (and so per partition).
    records = [(f"case-{i % 40}".encode(), f"value-{i}-".encode() + bytes(200), [("ce_id", f"id-{i}".encode())])
               for i in range(1_000)]

    async def publish() -> list[tuple[str, int, int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True,
                                    max_batch_size=16 * 1024)  # small: forces several batches per partition
        await producer.start()
        try:
            outbox = Outbox(producer)
            for key, value, headers in records:
                await outbox.add(by_outbox, value, key=key, headers=headers)
            assert outbox.records == len(records)
            written = await outbox.send()
            await asyncio.gather(*[await producer.send(by_send, value, key=key, headers=headers)
                                   for key, value, headers in records])
            return [(w.topic, w.partition, w.first_offset, w.end_offset) for w in written]
        finally:
            await producer.stop()

    written = asyncio.run(publish())
    batched = asyncio.run(_read_all(kafka_bootstrap, by_outbox))
    sent = asyncio.run(_read_all(kafka_bootstrap, by_send))
    assert dict(batched) == dict(sent)  # same partition per key, same order, same headers
    assert sum(len(v) for v in batched.values()) == len(records)
    # The offsets reported cover each partition's records exactly, batch after batch.
    ends: dict[int, int] = defaultdict(int)
    for topic, partition, first, end in written:
        assert topic == by_outbox
        assert first == ends[partition]
        ends[partition] = end
    assert {p: len(v) for p, v in batched.items()} == dict(ends)
    assert len(written) > PARTITIONS  # the small batch size made it split


def test_explicit_partition_and_unkeyed_records(kafka_bootstrap: str, unique_id: str) -> None:
    (topic,) = _make_topics(kafka_bootstrap, f"t{unique_id}", "explicit")

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            outbox = Outbox(producer)
            for i in range(10):
                await outbox.add(topic, f"p3-{i}".encode(), key=b"any", partition=3)
            await outbox.add(topic, b"tombstone-key", key=b"gone", partition=3)
            await outbox.add(topic, b"no key", key=None)
            await outbox.send()
            assert outbox.records == 0  # emptied by send
            assert await outbox.send() == []
        finally:
            await producer.stop()

    asyncio.run(publish())
    found = asyncio.run(_read_all(kafka_bootstrap, topic))
    assert [v for _k, v, _h in found[3] if v.startswith(b"p3-")] == [f"p3-{i}".encode() for i in range(10)]
    assert sum(len(v) for v in found.values()) == 12
