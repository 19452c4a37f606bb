"""Publish accepted findings and answer only once the broker has them (acks=all, idempotent producer)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.common.envelope import Record

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time: the caller must be told to retry, nothing was accepted."""


class FindingPublisher:
    def __init__(self, bootstrap_servers: str, topic: str, timeout_seconds: float) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._timeout_seconds = timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ready_producer(self) -> AIOKafkaProducer:
        # Started lazily so the service comes up (and answers 503) while the broker is still down.
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap_servers, acks="all", enable_idempotence=True,
                    request_timeout_ms=int(self._timeout_seconds * 1000), linger_ms=2,
                )
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_seconds)
                except (TimeoutError, KafkaError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(f"broker not reachable: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def publish(self, record: Record) -> tuple[int, int]:
        """Send and wait for the acknowledgement; returns (partition, offset)."""
        producer = await self._ready_producer()
        try:
            metadata = await asyncio.wait_for(
                producer.send_and_wait(self._topic, record.value, key=record.key, headers=record.headers),
                self._timeout_seconds,
            )
        except (TimeoutError, KafkaError) as exc:
            log.warning("publish not acknowledged: %r", exc)
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}") from exc
        return metadata.partition, metadata.offset

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
