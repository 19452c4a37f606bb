"""Fast paths against the standard path they replace, in the same process, interleaved: the CloudEvents codec
against the CloudEvents SDK, the group-commit idempotency store against one transaction per call
(``Bench.section_fast_paths`` runs them; docs/benchmarks.md, "Fast paths")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from schemas.events import FindingReported, WireModel
from services.common.envelope import Record, decode, encode
from services.patrol.adapters.idempotency_store import (
    GroupCommitStore,
    PerCallStore,
    SqlIdempotencyStore,
    make_store_engine,
)
from services.patrol.domain.idempotency import KeyRecord, KeyState
from services.patrol.ports import Ack, IdempotencyStore

_FORMAT = JSONFormat()


# -- the CloudEvents codec -----------------------------------------------------------------------------------------


def sdk_encode(model: WireModel, *, event_id: str, source: str, key: str | None, subject: str | None = None,
               time: datetime | None = None) -> Record:
    """The standard path: the SDK's CloudEvent and its Kafka binding's ``to_binary``."""
    at = (time.replace(tzinfo=UTC) if time.tzinfo is None else time) if time else datetime.now(UTC)
    attributes: dict[str, Any] = {"id": event_id, "source": source, "type": model.CE_TYPE, "specversion": "1.0",
                                  "datacontenttype": "application/json", "time": at}
    if subject:
        attributes["subject"] = subject
    event = CloudEvent(attributes=attributes, data=model.model_dump_json().encode())
    message = to_binary(event, _FORMAT, key_mapper=lambda _event: key)
    raw_key = message.key.encode() if isinstance(message.key, str) else message.key
    return Record(raw_key, message.value, list(message.headers.items()))


def sdk_decode(headers: Sequence[tuple[str, bytes]], value: bytes, model: type[WireModel]) -> tuple[Any, WireModel]:
    """The standard path: the SDK's ``from_binary``, then the body's pydantic model (as ``decode`` does)."""
    event = from_binary(KafkaMessage(headers=dict(headers), key=None, value=value), _FORMAT)
    return event, model.model_validate_json(value)


def _codec_round(findings: Sequence[tuple[str, FindingReported]], standard: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) encoding then decoding every finding once."""
    enc: Callable[..., Record] = sdk_encode if standard else encode
    models = [FindingReported]
    cpu, started = time.process_time(), time.perf_counter()
    for key, finding in findings:
        record = enc(finding, event_id=finding.finding_id, source=f"/patrol/{finding.township_code}", key=key,
                     subject=finding.finding_id, time=finding.received_at)
        if standard:
            sdk_decode(record.headers, record.value, FindingReported)
        else:
            decode(record.headers, record.value, models)
    return time.perf_counter() - started, time.process_time() - cpu


def check_same_records(findings: Sequence[tuple[str, FindingReported]]) -> None:
    """Both codecs must write the same bytes and read back the same model, or the comparison means nothing."""
    for key, finding in findings[:200]:
        args = {"event_id": finding.finding_id, "source": f"/patrol/{finding.township_code}", "key": key,
                "subject": finding.finding_id, "time": finding.received_at}
        ours, theirs = encode(finding, **args), sdk_encode(finding, **args)
        if (ours.key, ours.value, ours.headers) != (theirs.key, theirs.value, theirs.headers):
            raise RuntimeError(f"the codec and the SDK disagree on {finding.finding_id}")
        if decode(ours.headers, ours.value, [FindingReported])[1] != sdk_decode(ours.headers, ours.value,
                                                                                 FindingReported)[1]:
            raise RuntimeError(f"the codec and the SDK read {finding.finding_id} differently")


@dataclass
class Pair:
    fast: float
    standard: float
    fast_cpu: float
    standard_cpu: float


def codec_pair(findings: Sequence[tuple[str, FindingReported]], fast_first: bool, chunk: int = 1_000) -> Pair:
    """Both codecs over the same findings, taking turns chunk by chunk (which goes first alternating from chunk to
    chunk, starting with the fast one when ``fast_first``), so that a disturbance from outside hits both alike:
    messages per second of wall time and per CPU second, each codec's chunks summed."""
    totals = {False: [0.0, 0.0], True: [0.0, 0.0]}
    for number, start in enumerate(range(0, len(findings), chunk)):
        part = findings[start:start + chunk]
        order = (False, True) if (number % 2 == 0) == fast_first else (True, False)
        for standard in order:
            wall, cpu = _codec_round(part, standard)
            totals[standard][0] += wall
            totals[standard][1] += cpu
    n = len(findings)
    return Pair(n / totals[False][0], n / totals[True][0], n / totals[False][1], n / totals[True][1])


# -- the idempotency store -------------------------------------------------------------------------------------------


def store_records(findings: Sequence[tuple[str, FindingReported]], tag: str) -> list[KeyRecord]:
    now = datetime.now(UTC)
    return [KeyRecord(scope="bench-topic", reporter=f.reporter, client_report_id=f"{tag}-{f.client_report_id}",
                      fingerprint=f.finding_id.replace("-", "")[:64], finding_id=f.finding_id,
                      township_code=f.township_code, category_code=f.category_code, latitude=f.location.latitude,
                      longitude=f.location.longitude, state=KeyState.PENDING, claimed_at=now)
            for _k, f in findings]


async def _store_round(store: IdempotencyStore, records: Sequence[KeyRecord], callers: int) -> float:
    """Claims per second: ``callers`` concurrent callers, each claiming one key then recording its acknowledgement
    (what a single-finding request asks of the store), until every record is claimed."""
    queue = iter(enumerate(records))

    async def caller() -> None:
        for offset, record in queue:
            if (await store.claim([record]))[0] is not None:
                raise RuntimeError("a fresh key was already claimed")
            await store.accept([(record, Ack(offset % 12, offset))])

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return len(records) / (time.perf_counter() - started)


def store_rate(database: Path, records: Sequence[KeyRecord], callers: int, group_commit: bool) -> float:
    """One run on a fresh SQLite file (WAL, synchronous=FULL, as patrol runs it)."""
    sql = SqlIdempotencyStore(make_store_engine(f"sqlite:///{database}"))
    store: GroupCommitStore | PerCallStore = GroupCommitStore(sql) if group_commit else PerCallStore(sql)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_store_round(store, records, callers))
    finally:
        store.close()
