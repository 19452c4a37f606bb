"""What one unit of work publishes, sent as one Kafka record batch per topic partition.

``AIOKafkaProducer.send`` costs tens of microseconds of Python per record (a future per record, partitioner lookups,
an await); a consume→decide→produce loop that writes several records per input spends more time there than in its own
work. Records collected here are appended straight into aiokafka's record-batch builders (a C extension) and handed
over with one ``send_batch`` per topic partition, which is acknowledged as a whole.

Keyed records land where ``send`` would put them (aiokafka's default partitioner: murmur2 of the key, the Java
client's rule), so consumers that rely on one key staying in one partition see no difference. Records of one topic
partition keep the order they were added in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

Headers = list[tuple[str, bytes]]  # a list: the C record builder refuses other sequences
NO_HEADERS: Headers = []


@dataclass(frozen=True)
class Written:
    """Where the records of one topic partition went: offsets ``first_offset`` .. ``end_offset - 1``."""

    topic: str
    partition: int
    first_offset: int
    end_offset: int


class HandedOver:
    """Batches the producer has; ``acknowledged`` waits for the broker's acks (and raises what the producer raised)."""

    def __init__(self, sent: list[tuple[str, int, int, asyncio.Future[Any]]]) -> None:
        self._sent = sent

    async def acknowledged(self) -> list[Written]:
        acks = await asyncio.gather(*(future for *_where, future in self._sent))
        return [Written(topic, partition, ack.offset, ack.offset + count)
                for (topic, partition, count, _future), ack in zip(self._sent, acks, strict=True)]


class Outbox:
    def __init__(self, producer: AIOKafkaProducer, partition_counts: dict[str, list[int]] | None = None) -> None:
        """``partition_counts`` may be shared between outboxes: topic → its partition ids, learnt once per topic."""
        self._producer = producer
        self._partitions = partition_counts if partition_counts is not None else {}
        self._partitioner = DefaultPartitioner()
        self._builders: dict[tuple[str, int], list[BatchBuilder]] = {}
        self._partition_of_key: dict[tuple[str, bytes], int] = {}
        self.records = 0

    async def add(self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers = NO_HEADERS,
                  partition: int | None = None) -> None:
        """Queue one record; nothing is sent before ``send``. Async only to learn a new topic's partitions."""
        if partition is None:
            partition = await self._partition_for(topic, key)
        builders = self._builders.setdefault((topic, partition), [])
        if not builders or builders[-1].append(timestamp=None, key=key, value=value, headers=headers) is None:
            builders.append(self._producer.create_batch())
            if builders[-1].append(timestamp=None, key=key, value=value, headers=headers) is None:
                raise ValueError(f"a record for {topic} does not fit in an empty batch (max_batch_size too small)")
        self.records += 1

    async def send(self) -> list[Written]:
        """Hand every batch to the producer and wait until the broker has acknowledged all of them."""
        return await (await self.hand_over()).acknowledged()

    async def hand_over(self) -> HandedOver:
        """Hand every batch to the producer without waiting for the broker; the outbox is empty again after."""
        sent: list[tuple[str, int, int, asyncio.Future[Any]]] = []
        for (topic, partition), builders in self._builders.items():
            for builder in builders:
                sent.append((topic, partition, builder.record_count(),
                             await self._producer.send_batch(builder, topic, partition=partition)))
        self._builders = {}
        self.records = 0
        return HandedOver(sent)

    async def _partition_for(self, topic: str, key: bytes | None) -> int:
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await self._producer.partitions_for(topic))
        if len(partitions) == 1:
            return partitions[0]
        if key is None:
            return int(self._partitioner(None, partitions, partitions))
        # murmur2 is pure Python in aiokafka; one case's events share a key several times per batch.
        cached = self._partition_of_key.get((topic, key))
        if cached is None:
            cached = self._partition_of_key[(topic, key)] = int(self._partitioner(key, partitions, partitions))
        return cached
