"""Publish accepted findings and answer only once the broker has them (acks=all, idempotent producer)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from kafka import KafkaAdminClient
from kafka.errors import KafkaError as SyncKafkaError

from services.common.envelope import Record
from services.common.lazy_producer import LazyProducer
from services.patrol.ports import Ack, BrokerUnavailable

log = logging.getLogger(__name__)


class FindingPublisher:
    def __init__(self, bootstrap_servers: str, topic: str, timeout_seconds: float,
                 connect_timeout_seconds: float | None = None, linger_ms: int = 2) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._timeout_seconds = timeout_seconds
        # Connecting (producer start, topic lookup) happens once, not per finding, and is slow on a busy host; a
        # broker that is down refuses the connection at once, so a longer allowance costs nothing then.
        self._connect_timeout_seconds = max(timeout_seconds, connect_timeout_seconds or 0.0)
        self._producer = LazyProducer(lambda: AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True,
            request_timeout_ms=int(timeout_seconds * 1000), linger_ms=linger_ms, partitioner=KeyHashMemo(),
        ), timeout_seconds)
        self._topic_id: str | None = None

    @property
    def known_scope(self) -> str | None:
        """The topic id learnt on the last connection, without connecting."""
        return self._topic_id

    async def scope(self) -> str:
        """Id of the findings topic incarnation: idempotency records are valid for this id only, so a wiped
        broker or a re-created topic never replays an answer for a record that is gone."""
        await self._ready_producer()
        assert self._topic_id is not None
        return self._topic_id

    async def _ready_producer(self) -> AIOKafkaProducer:
        try:
            return await self._producer.get(self._connect)
        except (TimeoutError, KafkaError, SyncKafkaError, OSError, LookupError) as exc:
            raise BrokerUnavailable(f"broker not reachable: {exc!r}", sent=False) from exc

    async def _connect(self, producer: AIOKafkaProducer) -> None:
        await asyncio.wait_for(producer.start(), self._connect_timeout_seconds)
        self._topic_id = await asyncio.wait_for(asyncio.to_thread(self._describe_topic),
                                                self._connect_timeout_seconds)

    def _describe_topic(self) -> str:
        timeout_ms = int(self._connect_timeout_seconds * 1000)
        admin = KafkaAdminClient(bootstrap_servers=self._bootstrap_servers, client_id="liandong-patrol",
                                 request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
        try:
            description = admin.describe_topics([self._topic])[0]
        finally:
            admin.close()
        if description.get("error_code") or not description.get("topic_id"):
            raise LookupError(f"topic {self._topic} is not there (error {description.get('error_code')})")
        return str(description["topic_id"])

    async def publish_many(self, records: Sequence[Record]) -> list[Ack | BrokerUnavailable]:
        """Send all, then wait for every acknowledgement; each record gets its Ack or its failure."""
        try:
            producer = await self._ready_producer()
        except BrokerUnavailable as exc:
            # Not connected (a cluster node refusing the topic lookup, say): nothing sent, every record answered
            # with the failure (a 503 to the client), never an exception out of the request.
            return [exc for _ in records]
        try:
            futures = [await producer.send(self._topic, r.value, key=r.key, headers=r.headers) for r in records]
        except KafkaError as exc:
            await self._producer.reset()
            return [BrokerUnavailable(f"not handed to the producer: {exc!r}", sent=False) for _ in records]
        done, _pending = await asyncio.wait(futures, timeout=self._timeout_seconds)
        results: list[Ack | BrokerUnavailable] = []
        for future in futures:
            if future in done and not future.cancelled() and future.exception() is None:
                metadata = future.result()
                results.append(Ack(metadata.partition, metadata.offset))
            else:
                results.append(BrokerUnavailable(f"broker did not acknowledge: {_failure(future, done)}", sent=True))
        if any(isinstance(r, BrokerUnavailable) for r in results):
            log.warning("publish not acknowledged for %d of %d records", sum(
                isinstance(r, BrokerUnavailable) for r in results), len(results))
            await self._producer.reset()  # the next send starts a fresh producer
        return results

    async def close(self) -> None:
        await self._producer.reset()


class KeyHashMemo:
    """aiokafka's default partitioner, with the murmur2 hash of each key remembered.

    Findings are keyed by dedup group — a few hundred keys — and the pure-Python murmur2 was ~4 % of a batch's CPU.
    The partition is still the hash modulo the partitions known now, exactly as ``DefaultPartitioner`` (and the Java
    client) picks it, so every finding of a dedup group still lands on the one partition dispatch expects.
    """

    def __init__(self, max_keys: int = 65_536) -> None:
        self._hash = functools.lru_cache(maxsize=max_keys)(murmur2)

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)
        return all_partitions[(self._hash(key) & 0x7FFFFFFF) % len(all_partitions)]


def _failure(future: asyncio.Future[object], done: set[asyncio.Future[object]]) -> str:
    if future not in done:
        return "no acknowledgement in time"
    return "cancelled" if future.cancelled() else repr(future.exception())
