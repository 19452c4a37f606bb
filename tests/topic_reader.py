"""Read whole topics back (kafka-python), decoding CloudEvents, to assert what services published."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaConsumer, TopicPartition

from schemas.events import WireModel
from services.common.envelope import decode


def read_records(bootstrap_servers: str, topic: str) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every record currently on ``topic`` (all partitions, from the start), as (key, value, headers)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=1500, auto_offset_reset="earliest")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                records += [(r.key, r.value, dict(r.headers)) for r in batch]
        return records
    finally:
        consumer.close()


def read_events(bootstrap_servers: str, topic: str, models: Iterable[type[WireModel]]) -> list[WireModel]:
    models = tuple(models)
    return [decode(headers, value, models)[1] for _key, value, headers in read_records(bootstrap_servers, topic)]
