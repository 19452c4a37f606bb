"""Ingestion and end-to-end latency through the real patrol service (and a real dispatch worker for latency)."""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kafka import KafkaConsumer

from bench.data import plan
from bench.http_load import LoadResult, closed_loop, open_loop, tokens
from bench.kafka_io import Offsets, end_offsets, wait_for_commit
from bench.stack import BenchStack
from bench.stats import percentile
from scripts.sample_day import PlannedSubmission
from services.common.topics import FINDINGS, referrals_topic
from services.reference.loader import load_reference_data

BATCH_ITEMS = 500  # the patrol service's default max_batch_items: an app catching up after a day offline


def patrol_env(stack: BenchStack) -> dict[str, str]:
    # The bench sends from a few principals at rates no single officer reaches: the per-caller limit is lifted.
    # Patrol runs as it is deployed on a machine like this one: a worker process per CPU (BENCH_PATROL_WORKERS to
    # compare other counts).
    linger = os.environ.get("BENCH_LINGER_MS")
    return {"LIANDONG_RATE_LIMIT_PER_MINUTE": "100000000", "LIANDONG_RATE_LIMIT_BURST": "1000000",
            "LIANDONG_PATROL_WORKERS": os.environ.get("BENCH_PATROL_WORKERS", str(len(os.sched_getaffinity(0)))),
            **({"LIANDONG_PUBLISH_LINGER_MS": linger} if linger else {}),
            "LIANDONG_PATROL_STORE_URL": f"sqlite:///{stack.run_dir / 'patrol.db'}",
            "LIANDONG_AUDIT_LOG_PATH": str(stack.run_dir / "logs" / "audit.jsonl")}


def _seed(tag: str) -> int:
    return zlib.crc32(tag.encode())


def base_url(stack: BenchStack) -> str:
    return f"http://127.0.0.1:{stack.patrol_port}"


def _with_tokens(stack: BenchStack, planned: Sequence[PlannedSubmission]) -> list[tuple[str, dict[str, object]]]:
    minted = tokens(stack.jwt_secret, planned)
    return [(minted[p.principal], p.body) for p in planned]


def single_requests(stack: BenchStack, count: int, tag: str, connections: int = 32) -> LoadResult:
    """``count`` single findings over keep-alive connections, each sent when the previous answer is in."""
    bodies = _with_tokens(stack, plan(count, seed=_seed(tag), tag=tag)[:count])
    return closed_loop(base_url(stack), "/v1/findings", bodies, connections=connections)


def batches(stack: BenchStack, count: int, tag: str, connections: int = 4) -> LoadResult:
    """``count`` findings in batches of BATCH_ITEMS from one system caller (the hotline files for every township)."""
    planned = [PlannedSubmission("hotline", p.body, p.violation)
               for p in plan(count, seed=_seed(tag), tag=tag)[:count]]
    token = tokens(stack.jwt_secret, planned[:1])["hotline"]
    bodies: list[tuple[str, object]] = [
        (token, {"items": [p.body for p in planned[i:i + BATCH_ITEMS]]}) for i in range(0, len(planned), BATCH_ITEMS)]
    return closed_loop(base_url(stack), "/v1/findings/batch", bodies, connections=connections)


@dataclass
class LatencyRun:
    load: LoadResult
    latencies_s: list[float]  # acceptance (finding.received_at) → referral record's broker timestamp


def team_topics(prefix: str) -> list[str]:
    return sorted({referrals_topic(b.body_id, prefix) for b in load_reference_data().bodies()
                   if b.body_id.startswith("team:")})


def latency_run(stack: BenchStack, rate_per_s: float, seconds: float, tag: str, group: str,
                grace_seconds: float = 10.0) -> LatencyRun:
    """Open-loop single findings at ``rate_per_s`` for ``seconds``; latency of every first referral to a team."""
    count = int(rate_per_s * seconds)
    bodies = _with_tokens(stack, plan(count, seed=_seed(tag), tag=tag)[:count])
    topics = team_topics(stack.topic_prefix)
    before = end_offsets(stack.bootstrap_servers, topics)
    findings_topic = FINDINGS.name(stack.topic_prefix)
    load = open_loop(base_url(stack), bodies, rate_per_s, grace_seconds=grace_seconds)
    # Let dispatch finish what was accepted, then read the referrals this run caused.
    total = sum(end_offsets(stack.bootstrap_servers, [findings_topic]).values())
    wait_for_commit(stack.bootstrap_servers, group, findings_topic, total, 600)
    latencies = _referral_latencies(stack.bootstrap_servers, before, f"{tag}-")
    return LatencyRun(load, latencies)


def _referral_latencies(bootstrap_servers: str, before: Offsets, client_id_prefix: str) -> list[float]:
    after = end_offsets(bootstrap_servers, {tp.topic for tp in before})
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    latencies: list[float] = []
    try:
        wanted = [tp for tp in after if after[tp] > before.get(tp, 0)]
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, before.get(tp, 0))
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < after[tp] for tp in wanted) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    event = json.loads(record.value)
                    finding = event["finding"]
                    if event.get("attempt") != 1 or not finding["client_report_id"].startswith(client_id_prefix):
                        continue
                    received = _epoch_seconds(finding["received_at"])
                    latencies.append(record.timestamp / 1000 - received)
    finally:
        consumer.close()
    return latencies


def _epoch_seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    return {"p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99),
            "max_s": max(latencies), "referrals": len(latencies)}


def wait_drained(stack: BenchStack, group: str) -> None:
    findings_topic = FINDINGS.name(stack.topic_prefix)
    total = sum(end_offsets(stack.bootstrap_servers, [findings_topic]).values())
    wait_for_commit(stack.bootstrap_servers, group, findings_topic, total, 600)

