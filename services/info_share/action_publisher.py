"""Put an action on the internal referral-responses topic and return only once the broker has it (acks=all)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.common.envelope import Record

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge the action in time: the caller gets 503 and may retry with the same key."""


class ActionPublisher:
    def __init__(self, bootstrap_servers: str, topic: str, timeout_seconds: float) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._timeout_seconds = timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def publish(self, record: Record) -> None:
        producer = await self._ready()
        try:
            await asyncio.wait_for(
                producer.send_and_wait(self._topic, record.value, key=record.key, headers=record.headers),
                self._timeout_seconds)
        except (TimeoutError, KafkaError) as exc:
            await self.close()  # a fresh producer next time: no stale sequence numbers after a failure
            raise BrokerUnavailable(f"the broker did not acknowledge the action: {exc!r}") from exc

    async def _ready(self) -> AIOKafkaProducer:
        # Started on first use, so the API serves reads while the broker is still coming up.
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap_servers, acks="all",
                                            enable_idempotence=True,
                                            request_timeout_ms=int(self._timeout_seconds * 1000))
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_seconds)
                except (TimeoutError, KafkaError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(f"broker not reachable: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), self._timeout_seconds)
            except (TimeoutError, KafkaError) as exc:
                log.warning("action producer did not stop cleanly: %r", exc)
