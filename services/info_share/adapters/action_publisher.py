"""Put an action on the internal referral-responses topic and return only once the broker has it (acks=all)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.common.envelope import Record
from services.common.lazy_producer import LazyProducer


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the action in time: the caller gets 503 and may retry with the same key."""


class ActionPublisher:
    def __init__(self, bootstrap_servers: str, topic: str, timeout_seconds: float) -> None:
        self._topic = topic
        self._timeout_seconds = timeout_seconds
        self._producer = LazyProducer(lambda: AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True,
            request_timeout_ms=int(timeout_seconds * 1000)), timeout_seconds)

    async def publish(self, record: Record) -> None:
        try:
            producer = await self._producer.get(self._start)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"broker not reachable: {exc!r}") from exc
        try:
            await asyncio.wait_for(
                producer.send_and_wait(self._topic, record.value, key=record.key, headers=record.headers),
                self._timeout_seconds)
        except (TimeoutError, KafkaError) as exc:
            await self._producer.reset()
            raise BrokerUnavailable(f"the broker did not acknowledge the action: {exc!r}") from exc

    async def _start(self, producer: AIOKafkaProducer) -> None:
        await asyncio.wait_for(producer.start(), self._timeout_seconds)

    async def close(self) -> None:
        await self._producer.reset()
