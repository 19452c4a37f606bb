"""A Kafka producer started on first use and replaced after a failure, for services that answer callers.

A service must come up, and answer 503, while the broker is still down, so its producer starts lazily. After a send
that was not acknowledged the producer is dropped and the next use starts a fresh one (a new producer id): no stale
sequence numbers, no batches stuck behind the failed one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


class LazyProducer:
    def __init__(self, make: Callable[[], AIOKafkaProducer], stop_timeout_seconds: float) -> None:
        self._make = make
        self._stop_timeout_seconds = stop_timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self, connect: Callable[[AIOKafkaProducer], Awaitable[None]]) -> AIOKafkaProducer:
        """The running producer; a new one is made and ``connect`` ed (start it, look things up) when there is none.

        Whatever ``connect`` raises is raised here, after the half-started producer is stopped.
        """
        async with self._lock:
            if self._producer is None:
                producer = self._make()
                try:
                    await connect(producer)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def reset(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), self._stop_timeout_seconds)
            except (TimeoutError, KafkaError) as exc:
                log.warning("producer did not stop cleanly: %r", exc)
