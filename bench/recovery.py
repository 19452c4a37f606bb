"""Recovery after a restart: the dispatch tables' changelogs hold N open cases; time a real worker until its dedup
index is rebuilt, and read its resident memory then."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from kafka.partitioner.default import murmur2

from bench import national
from bench.machine import rss_bytes
from bench.stack import BenchStack
from services.common.kafka_admin import ensure_topics
from services.common.topics import DEDUP_PARTITIONS
from services.dispatch import worker
from services.dispatch.domain import dedup

_REBUILT = re.compile(rb"dedup index rebuilt: (\d+) open cases in ([\d.]+)s")
# The worker's log lines start with the local time: "[2026-11-27 10:33:43,115] [617] [INFO] ..."
_STAMP = re.compile(rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", re.MULTILINE)
READING_STARTS = b"reading changelogs:"
READING_ENDS = b"changelogs read:"


def app_id(group_prefix: str) -> str:
    return f"{group_prefix}-dispatch"


def partition_of(dedup_group: str) -> int:
    """The findings partition of a dedup group (Kafka's default partitioner): where the worker writes its rows."""
    return (murmur2(dedup_group.encode()) & 0x7FFFFFFF) % DEDUP_PARTITIONS


async def _write_changelogs(bootstrap_servers: str, group_prefix: str, rows: Iterable[dedup.Row]) -> int:
    # The tables' changelog format (services.dispatch.state): JSON key, JSON value, no headers.
    topics = {table: f"{app_id(group_prefix)}-{table}-changelog" for table in (dedup.CASES_TABLE, dedup.MEMBERS_TABLE)}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks=1, linger_ms=50,
                                max_batch_size=1_000_000, max_request_size=2_000_000)
    await producer.start()
    batches: dict[tuple[str, int], BatchBuilder] = {}
    pending = []
    written = 0
    group = ""
    try:
        for row in rows:  # each case row comes before its membership rows
            assert row.value is not None
            if row.table == dedup.CASES_TABLE:
                group = row.value["dedup_group"]
            where = (topics[row.table], partition_of(group))
            key, value = json.dumps(row.key).encode(), json.dumps(row.value).encode()
            batch = batches.get(where) or batches.setdefault(where, producer.create_batch())
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start the next one
                pending.append(await producer.send_batch(batch, where[0], partition=where[1]))
                batch = batches[where] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            written += 1
        for where, batch in batches.items():
            pending.append(await producer.send_batch(batch, where[0], partition=where[1]))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return written


def load_changelogs(stack: BenchStack, cases: int) -> dict[str, float]:
    """Create the worker's changelog topics and fill the two dedup tables with ``cases`` open cases."""
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix, extra=worker.changelog_specs(app_id(stack.group_prefix)))
    started = time.perf_counter()
    written = asyncio.run(_write_changelogs(stack.bootstrap_servers, stack.group_prefix,
                                            national.rows(cases)))
    return {"records": written, "seconds": round(time.perf_counter() - started, 1)}


@dataclass(frozen=True)
class Recovery:
    seconds: float  # process start → "dedup index rebuilt" in its log
    startup_seconds: float  # process start → the worker starts reading the changelogs (imports, topics, group join)
    reading_seconds: float  # reading the changelogs into the tables
    rebuild_seconds: float  # the index rebuild alone, as the worker logs it
    open_cases: int
    rss_bytes: int  # the worker's VmRSS right after the rebuild

    def extrapolated_seconds(self, factor: float) -> float:
        """Start-up is fixed; reading grows with the records and the rebuild with the cases, both linearly."""
        return self.seconds + (self.reading_seconds + self.rebuild_seconds) * (factor - 1)


def _logged_at(log: bytes, marker: bytes) -> float:
    """Wall-clock time of the log line holding ``marker``."""
    at = log.index(marker)
    stamps = list(_STAMP.finditer(log, 0, at))
    if not stamps:
        raise ValueError(f"no time stamp before {marker!r}")
    return datetime.strptime(stamps[-1].group(1).decode(), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def recover_once(stack: BenchStack, name: str, timeout_seconds: float = 900.0) -> Recovery:
    started, started_wall = time.monotonic(), time.time()
    worker = stack.start_dispatch_logged(name)
    try:
        while True:
            log = worker.log_path.read_bytes()
            match = _REBUILT.search(log)
            if match:
                elapsed = time.monotonic() - started
                reading_from, reading_to = _logged_at(log, READING_STARTS), _logged_at(log, READING_ENDS)
                return Recovery(elapsed, reading_from - started_wall, reading_to - reading_from,
                                float(match.group(2)), int(match.group(1)), rss_bytes(worker.process.pid))
            if worker.process.poll() is not None:
                raise RuntimeError(f"dispatch worker exited with {worker.process.returncode}; see {worker.log_path}")
            if time.monotonic() - started > timeout_seconds:
                raise TimeoutError(f"no index rebuilt within {timeout_seconds}s; see {worker.log_path}")
            time.sleep(0.1)
    finally:
        worker.stop()
