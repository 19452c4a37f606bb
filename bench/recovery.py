"""Recovery after a restart: the dispatch tables' changelogs hold N open cases; time a real worker until its dedup
index is rebuilt, and read its resident memory then. Two states: the dedup tables alone, and every table a worker
holds for those cases (case files, referrals, overdue notices too)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from kafka.partitioner.default import murmur2

from bench import national
from bench.machine import rss_bytes
from bench.stack import BenchStack
from services.common.kafka_admin import ensure_topics
from services.common.topics import DEDUP_PARTITIONS
from services.dispatch.adapters import state
from services.dispatch.domain import dedup
from services.dispatch.entrypoints import worker

_REBUILT = re.compile(rb"dedup index rebuilt: (\d+) open cases in ([\d.]+)s")
# The worker's log lines start with the local time: "[2026-11-27 10:33:43,115] [617] [INFO] ..."
_STAMP = re.compile(rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", re.MULTILINE)
READING_STARTS = b"reading changelogs:"
READING_ENDS = b"changelogs read:"
_READ = re.compile(rb"changelogs read: (\d+) records")


def app_id(group_prefix: str) -> str:
    return f"{group_prefix}-dispatch"


@cache  # a handful of groups, millions of rows: murmur2 in Python is not free
def partition_of(dedup_group: str) -> int:
    """The findings partition of a dedup group (Kafka's default partitioner): where the worker writes its rows."""
    return (murmur2(dedup_group.encode()) & 0x7FFFFFFF) % DEDUP_PARTITIONS


# One changelog record: table, partition, key, value (encoded).
Encoded = tuple[str, int, bytes, bytes]


@dataclass
class Written:
    records: int = 0
    value_bytes: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


async def _send(bootstrap_servers: str, group_prefix: str, records: Iterable[Encoded]) -> Written:
    """Write encoded changelog records to the worker's changelog topics, one record batch per topic partition."""
    topics = {table: worker.changelog_topic(app_id(group_prefix), table) for table in worker.TABLE_NAMES}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks=1, linger_ms=50,
                                max_batch_size=1_000_000, max_request_size=2_000_000)
    await producer.start()
    batches: dict[tuple[str, int], BatchBuilder] = {}
    pending = []
    written = Written()
    try:
        for table, partition, key, value in records:
            where = (topics[table], partition)
            batch = batches.get(where) or batches.setdefault(where, producer.create_batch())
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start the next one
                pending.append(await producer.send_batch(batch, where[0], partition=where[1]))
                batch = batches[where] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            written.records += 1
            written.value_bytes += len(value)
            written.by_table[table] = written.by_table.get(table, 0) + 1
        for where, batch in batches.items():
            pending.append(await producer.send_batch(batch, where[0], partition=where[1]))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return written


def _dedup_records(rows: Iterable[dedup.Row]) -> Iterator[Encoded]:
    # The tables' changelog format (services.dispatch.adapters.state): JSON key, JSON value, no headers.
    group = ""
    for row in rows:  # each case row comes before its membership rows
        assert row.value is not None
        if row.table == dedup.CASES_TABLE:
            group = row.value["dedup_group"]
        yield row.table, partition_of(group), json.dumps(row.key).encode(), json.dumps(row.value).encode()


def _full_state_records(cases: Iterable[national.CaseState]) -> Iterator[Encoded]:
    # Encoded by the worker's own functions (services.dispatch.adapters.state): the bytes it writes itself.
    for case in cases:
        partition = partition_of(case.dedup_group)
        for row in case.rows:
            value = state.encode_value(row.value)
            assert value is not None
            yield row.table, partition, state.encode_key(row.key), value


def load_changelogs(stack: BenchStack, cases: int) -> dict[str, float]:
    """Create the worker's changelog topics and fill the two dedup tables with ``cases`` open cases."""
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix, extra=worker.changelog_specs(app_id(stack.group_prefix)))
    started = time.perf_counter()
    written = asyncio.run(_send(stack.bootstrap_servers, stack.group_prefix, _dedup_records(national.rows(cases))))
    return {"records": written.records, "seconds": round(time.perf_counter() - started, 1)}


def _make_shard(cases: int, now: datetime, shard: int, shards: int, out: multiprocessing.Queue[Any]) -> None:
    """In a child process: one shard of the whole state, encoded, handed over in lists; then None, or the error."""
    # A timeout on every put: a child whose parent is gone must not wait on a full queue forever.
    try:
        chunk: list[Encoded] = []
        for record in _full_state_records(national.full_state(cases, now=now, shard=shard, shards=shards)):
            chunk.append(record)
            if len(chunk) == 20_000:
                out.put(chunk, timeout=900)
                chunk = []
        out.put(chunk, timeout=900)
        out.put(None, timeout=900)
    except BaseException:
        out.put(traceback.format_exc(), timeout=60)
        raise


def _full_state_in_processes(cases: int, shards: int) -> Iterator[Encoded]:
    """``national.full_state`` made and encoded by ``shards`` child processes (it is pure Python and costs ~80 µs of
    CPU per case on the 2-core machine: two minutes at a million on one core), while this one writes."""
    # fork: the children inherit the loaded maps and reference data instead of loading them again.
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[Any] = context.Queue(maxsize=4 * shards)
    now = datetime.now(UTC)  # one "now" for every shard: which unanswered referrals are past their deadline
    children = [context.Process(target=_make_shard, args=(cases, now, shard, shards, out), daemon=True,
                                name=f"full-state-{shard}") for shard in range(shards)]
    for child in children:
        child.start()
    try:
        finished = 0
        while finished < shards:
            item = out.get(timeout=900)
            if item is None:
                finished += 1
            elif isinstance(item, str):
                raise RuntimeError(f"generating the whole state failed in a child process:\n{item}")
            else:
                yield from item
        for child in children:
            child.join()
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join()


def load_full_state(stack: BenchStack, cases: int) -> dict[str, Any]:
    """Create the worker's changelog topics and fill every table with the rows of ``cases`` open cases
    (``national.full_state``): dedup rows, case files, referrals and overdue notices."""
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix, extra=worker.changelog_specs(app_id(stack.group_prefix)))
    national.preload()  # once here rather than in every child
    started = time.perf_counter()
    shards = max(1, len(os.sched_getaffinity(0)))
    written = asyncio.run(_send(stack.bootstrap_servers, stack.group_prefix, _full_state_in_processes(cases, shards)))
    return {"records": written.records, "records_by_table": written.by_table, "value_bytes": written.value_bytes,
            "seconds": round(time.perf_counter() - started, 1), "generating_processes": shards}


@dataclass(frozen=True)
class Recovery:
    seconds: float  # process start → "dedup index rebuilt" in its log
    startup_seconds: float  # process start → the worker starts reading the changelogs (imports, topics, group join)
    reading_seconds: float  # reading the changelogs into the tables
    rebuild_seconds: float  # the index rebuild alone, as the worker logs it
    open_cases: int
    rss_bytes: int  # the worker's VmRSS right after the rebuild
    records_read: int = 0  # changelog records the worker read back

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


def recover_once(stack: BenchStack, name: str, timeout_seconds: float = 900.0, env: dict[str, str] | None = None,
                 state_dir: str = "") -> Recovery:
    """Start a worker (``state_dir``: an earlier worker's, to time a restart) until its index is rebuilt."""
    started, started_wall = time.monotonic(), time.time()
    worker = stack.start_dispatch_logged(name, env=env, state_dir=state_dir)
    try:
        while True:
            log = worker.log_path.read_bytes()
            match = _REBUILT.search(log)
            if match:
                elapsed = time.monotonic() - started
                reading_from, reading_to = _logged_at(log, READING_STARTS), _logged_at(log, READING_ENDS)
                read = _READ.search(log)
                return Recovery(elapsed, reading_from - started_wall, reading_to - reading_from,
                                float(match.group(2)), int(match.group(1)), rss_bytes(worker.process.pid),
                                int(read.group(1)) if read else 0)
            if worker.process.poll() is not None:
                raise RuntimeError(f"dispatch worker exited with {worker.process.returncode}; see {worker.log_path}")
            if time.monotonic() - started > timeout_seconds:
                raise TimeoutError(f"no index rebuilt within {timeout_seconds}s; see {worker.log_path}")
            time.sleep(0.1)
    finally:
        worker.stop()
