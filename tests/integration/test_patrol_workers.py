"""Patrol as several worker processes behind one port (LIANDONG_PATROL_WORKERS=2), on the real broker: one
idempotency store, one rate limit and one set of metrics for all of them, and the processes gone after a stop."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from deploy.local_stack import Stack
from services.common.kafka_admin import ensure_topics
from tests.patrol_fixtures import finding_ids_on_topic, officer_headers, patrol_env, submission
from tests.stack_fixtures import StackFactory

pytestmark = pytest.mark.integration

BURST = 6


def workers_of(stack: Stack) -> list[int]:
    parent = stack.processes["patrol"].process.pid
    found = subprocess.run(["pgrep", "-f", "-P", str(parent), "multiprocessing.spawn"], capture_output=True,
                           text=True).stdout.split()
    return [int(pid) for pid in found]


def post(stack: Stack, body: dict[str, object]) -> httpx.Response:
    # A new connection each time: the kernel hands each to whichever worker accepts first.
    return httpx.post(f"http://127.0.0.1:{stack.patrol_port}/v1/findings", json=body, headers=officer_headers(stack),
                      timeout=30)


def test_workers_share_the_store_the_rate_limit_and_the_metrics(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = make_stack(extra_env=patrol_env(tmp_path, LIANDONG_PATROL_WORKERS="2",
                                            LIANDONG_RATE_LIMIT_BURST=str(BURST),
                                            LIANDONG_RATE_LIMIT_PER_MINUTE="0.01"))
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stack.start_patrol()
    assert len(workers_of(stack)) == 2

    body = submission("workers-1")
    first = post(stack, body)
    assert first.status_code == 202, first.text
    replays = [post(stack, body) for _ in range(2)]
    assert all(r.status_code == 202 and r.json() == first.json() for r in replays)
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in replays)
    conflict = post(stack, {**body, "description": "改寫"})
    assert conflict.status_code == 409
    others = [post(stack, submission(f"workers-{i}")) for i in range(2, 6)]
    # BURST requests in all, whichever worker took them; the next is over the caller's one budget.
    assert [r.status_code for r in others] == [202, 202, 429, 429]

    assert finding_ids_on_topic(stack) == [first.json()["finding_id"], others[0].json()["finding_id"],
                                           others[1].json()["finding_id"]]
    metrics = httpx.get(f"http://127.0.0.1:{stack.patrol_port}/metrics", timeout=30).text
    counted = {line.split(" ")[0].split("{")[0]: 0.0 for line in metrics.splitlines() if line and line[0] != "#"}
    for line in metrics.splitlines():
        if line.startswith(("liandong_patrol_findings_accepted_total{", "liandong_patrol_findings_replayed_total{")):
            counted[line.split("{")[0]] += float(line.rsplit(" ", 1)[1])
    assert counted["liandong_patrol_findings_accepted_total"] == 3
    assert counted["liandong_patrol_findings_replayed_total"] == 2
    audit = [json.loads(line)["audit"] for line in (tmp_path / "patrol-audit.jsonl").read_text().splitlines()]
    assert sorted(a["outcome"] for a in audit) == sorted(
        ["accepted", "replayed", "replayed", "conflict", "accepted", "accepted", "rate_limited", "rate_limited"])

    workers = workers_of(stack)
    stack.processes["patrol"].stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
