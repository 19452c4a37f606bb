"""The cluster scenarios (``python -m faults --cluster``): faults of the three-node cluster itself while findings flow.

Each runs on ``Stack(brokers=3)`` (deploy/kafka/local_kafka.py: RF 3, ``min.insync.replicas=2``, unclean leader
election off) and is checked with the same invariants as every other scenario (faults/history.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaProducer

from deploy.kafka.local_kafka import LocalKafka, LocalKafkaCluster, free_port
from deploy.local_stack import http_ok
from faults.netns import NetworkNamespace
from faults.scenarios import Context, Outcome, Scenario
from services.common.kafka_admin import ensure_topics
from services.common.topics import FINDINGS, TopicSpec

BALLAST = TopicSpec("faults-ballast", 3, "none", "bulk records that fill a node's disk (disk_full)",
                    {"max.message.bytes": str(2 << 20)})


def cluster_of(ctx: Context) -> LocalKafkaCluster:
    broker = ctx.stack.broker
    assert isinstance(broker, LocalKafkaCluster), "a cluster scenario needs Stack(brokers=3)"
    return broker


def _partitions(bootstrap: str, topics: list[str] | None = None) -> list[tuple[str, int, int, list[int]]]:
    """(topic, partition, leader, ISR) of every partition of ``topics`` (every topic when None)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        names = topics if topics is not None else admin.list_topics()
        return [(d["name"], p["partition_index"], p["leader_id"], list(p["isr_nodes"]))
                for d in admin.describe_topics(names) for p in d["partitions"]]
    finally:
        admin.close()


def findings_leaders(ctx: Context) -> Counter[int]:
    return Counter(leader for _t, _p, leader, _isr in _partitions(ctx.bootstrap, [FINDINGS.name(ctx.prefix)]))


def expect_back_in_every_isr(ctx: Context, node_id: int, out: Outcome, within: float = 180) -> None:
    """Record how long ``node_id`` took to rejoin every ISR; a failure of ``out`` if it did not within ``within``."""
    rejoined = wait_in_every_isr(ctx, node_id, within)
    out.extra["back_in_every_isr_after_seconds"] = rejoined
    if rejoined is None:
        out.failures.append(f"node {node_id} not back in every ISR within {within:.0f} s")


def wait_in_every_isr(ctx: Context, node_id: int, timeout: float) -> float | None:
    """Seconds until ``node_id`` is in the ISR of every partition of every topic; None if not within ``timeout``."""
    begun = time.monotonic()
    while time.monotonic() - begun < timeout:
        try:
            if all(node_id in isr for _t, _p, _leader, isr in _partitions(ctx.bootstrap)):
                return round(time.monotonic() - begun, 1)
        except Exception:
            pass
        time.sleep(1)
    return None


def _load_while(ctx: Context, name: str, inject: Callable[[], None], duration: float) -> None:
    plan = ctx.plan()
    thread = ctx.driver.start(name, plan, duration)
    ctx.wait_acked(name, max(1, len(plan) // 6))
    inject()
    thread.join()


def _statuses(ctx: Context, name: str, out: Outcome) -> None:
    statuses = dict(ctx.history.statuses[name])
    out.extra["http_statuses"] = statuses
    out.notes.append(f"clients saw {statuses.get(503, 0)} × 503 and retried; {statuses.get(599, 0)} connection "
                     "errors")


def kill_leader_broker(ctx: Context, name: str) -> Outcome:
    cluster = cluster_of(ctx)
    down = 8 if ctx.short else 15
    out = Outcome(f"SIGKILL the node leading most findings partitions mid-stream; {down} s down; start it again "
                  "(same data dir, ports); wait until it is back in every ISR")

    def inject() -> None:
        before = findings_leaders(ctx)
        victim_id = before.most_common(1)[0][0]
        victim: LocalKafka = cluster.node(victim_id)
        out.extra["victim"] = victim_id
        out.extra["findings_leaders_before"] = dict(before)
        victim.stop(kill=True)
        time.sleep(down)
        out.extra["findings_leaders_while_down"] = dict(findings_leaders(ctx))
        if victim_id in out.extra["findings_leaders_while_down"]:
            out.failures.append("the killed node still leads findings partitions")
        started = time.monotonic()
        victim.start()
        out.extra["restart_seconds"] = round(time.monotonic() - started, 1)
        rejoined = wait_in_every_isr(ctx, victim_id, 180)
        out.extra["back_in_every_isr_after_seconds"] = rejoined
        if rejoined is None:
            out.failures.append(f"node {victim_id} not back in every ISR within 180 s")
    _load_while(ctx, name, inject, ctx.duration * 2)
    _statuses(ctx, name, out)
    return out


def rolling_restart(ctx: Context, name: str) -> Outcome:
    cluster = cluster_of(ctx)
    out = Outcome("clean rolling restart while findings flow: SIGTERM each node in turn (controlled shutdown), "
                  "start it again, wait until it is back in the ISR of every partition, then the next")
    rounds: list[dict[str, object]] = []

    def inject() -> None:
        for node in cluster.nodes:
            begun = time.monotonic()
            node.stop()
            stopped = round(time.monotonic() - begun, 1)
            node.start()
            started = round(time.monotonic() - begun, 1)
            rejoined = wait_in_every_isr(ctx, node.node_id, 180)
            rounds.append({"node": node.node_id, "stopped_after_s": stopped, "serving_after_s": started,
                           "back_in_every_isr_after_s": rejoined})
            if rejoined is None:
                out.failures.append(f"node {node.node_id} not back in every ISR within 180 s")
                return
    # Findings flow for the whole restart: three rounds take a while.
    _load_while(ctx, name, inject, ctx.duration * (5 if ctx.short else 3))
    out.extra["rounds"] = rounds
    _statuses(ctx, name, out)
    return out




def _reaches(netns: NetworkNamespace, bootstrap: str) -> bool:
    """Whether a TCP connection from inside the namespace to the first broker opens within 2 s."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    probe = (f"import socket; s = socket.create_connection(({host!r}, {port}), timeout=2); s.close()")
    try:
        return subprocess.run(netns.command([sys.executable, "-c", probe]), capture_output=True,
                              timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _member_from(ctx: Context, group: str, address: str) -> bool | str:
    """Whether a member of ``group`` connects from ``address`` (the group coordinator's view)."""
    admin = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=10_000)
    try:
        return address in str(admin.describe_groups([group]))
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    finally:
        admin.close()


def network_partition_dispatch(ctx: Context, name: str) -> Outcome:
    """dispatch-b moved into the run's network namespace, its link degraded, then cut, then healed."""
    netns = ctx.netns
    assert netns is not None, "needs the run's network namespace (faults/netns.py)"
    degraded_for = 6 if ctx.short else 15
    cut_for = ctx.session_timeout + 6
    out = Outcome(f"dispatch-b (one of 2 workers) in its own network namespace; mid-stream its link to the brokers "
                  f"degraded for {degraded_for} s, then cut both ways for {cut_for:.0f} s (over the "
                  f"{ctx.session_timeout:.0f} s session timeout), then healed")
    ctx.proc("dispatch-b").stop()
    port = free_port()
    ctx.web_ports["dispatch-b"] = port
    managed = ctx.stack.start_command(
        "dispatch-b", netns.command([sys.executable, "-m", "services.dispatch", "--web-port", str(port)]),
        http_ok(f"http://{netns.ns_ip}:{port}/metrics"),
        # Its own state directory, as Stack.start_dispatch gives every worker (not the default under .run/).
        env={"LIANDONG_WORKER_WEB_HOST": "0.0.0.0",
             "LIANDONG_DISPATCH_STATE_DIR": str(ctx.stack.run_dir / "dispatch-state" / "dispatch-b")})
    ctx.started.append(managed)
    phases: list[str] = []

    group = f"{ctx.stack.group_prefix}-dispatch"
    seen: dict[str, object] = {}

    def inject() -> None:
        seen["member_before"] = _member_from(ctx, group, netns.ns_ip)
        seen["reaches_a_broker_before"] = _reaches(netns, ctx.bootstrap)
        phases.append("degraded: " + netns.degrade(delay_ms=200, loss_percent=10, rate="1mbit"))
        time.sleep(degraded_for)
        phases.append("cut: " + netns.cut())
        offset = managed.log_path.stat().st_size
        seen["reaches_a_broker_during_cut"] = _reaches(netns, ctx.bootstrap)
        time.sleep(max(0.0, cut_for - 3))
        seen["member_late_in_cut"] = _member_from(ctx, group, netns.ns_ip)
        time.sleep(2)
        netns.clear()
        phases.append("healed: qdiscs and neighbour entries removed")
        # What the partitioned worker said while cut off: evidence the cut reached it.
        with open(managed.log_path, "rb") as log:
            log.seek(offset)
            said = log.read().decode(errors="replace").splitlines()
        out.extra["partitioned_worker_log_lines_during_cut"] = len(said)
        out.extra["partitioned_worker_said_during_cut"] = sorted({line[:160] for line in said})[:6]
    try:
        _load_while(ctx, name, inject, ctx.duration * (5 if ctx.short else 3))
    finally:
        netns.clear()
    time.sleep(ctx.session_timeout)  # the partitioned worker rejoins (or fails and is restarted: noted)
    seen["member_after_heal"] = _member_from(ctx, group, netns.ns_ip)
    seen["reaches_a_broker_after_heal"] = _reaches(netns, ctx.bootstrap)
    out.extra["partition_evidence"] = seen
    if seen["reaches_a_broker_during_cut"] or not seen["reaches_a_broker_before"]:
        out.failures.append(f"the cut did not cut (or the namespace never reached the brokers): {seen}")
    code = managed.process.poll()
    out.extra["partitioned_worker_exit_status"] = code
    out.notes += phases
    out.notes.append("the partitioned worker " + ("kept running" if code is None else f"exited with {code}"))
    managed.stop()
    ctx.start("dispatch-b")  # back on the host network for the next scenarios
    _statuses(ctx, name, out)
    return out



def slow_broker(ctx: Context, name: str) -> Outcome:
    """One node made slow: frozen (SIGSTOP) for 2 s of every 2.5 s, so every request it serves or sends waits up to
    2 s, and acks=all writes wait for it while it stays in the ISR (patrol's publish timeout is 3 s)."""
    cluster = cluster_of(ctx)
    slow_for = 10 if ctx.short else 25
    node = cluster.node(findings_leaders(ctx).most_common(1)[0][0])
    out = Outcome(f"node {node.node_id} (leading the most findings partitions) slowed for {slow_for} s mid-stream: "
                  "SIGSTOP 2 s of every 2.5 s (each request it serves or sends waits up to 2 s)")

    def inject() -> None:
        pid = node.running_pid()
        assert pid is not None
        deadline = time.monotonic() + slow_for
        try:
            while time.monotonic() < deadline:
                os.kill(pid, signal.SIGSTOP)
                time.sleep(2.0)
                os.kill(pid, signal.SIGCONT)
                time.sleep(0.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        expect_back_in_every_isr(ctx, node.node_id, out)
    _load_while(ctx, name, inject, ctx.duration * (4 if ctx.short else 2))
    _statuses(ctx, name, out)
    return out


def disk_full(ctx: Context, name: str) -> Outcome:
    """The node on the small loop-mounted volume (``ctx.small_disk``) gets its disk filled mid-stream."""
    cluster = cluster_of(ctx)
    mount = ctx.small_disk
    assert mount is not None, "needs the run's loop-mounted volume"
    node = next(n for n in cluster.nodes if n.data_dir == mount)
    out = Outcome(f"the disk of node {node.node_id} (a small loop-mounted ext4 volume holding its log dir) filled "
                  "mid-stream; then the filler removed and the node started again")
    filler = mount / "filler"

    def inject() -> None:
        with open(filler, "wb") as sink:
            chunk = b"\0" * (1 << 20)
            with contextlib.suppress(OSError):  # ENOSPC: the disk is full
                while True:
                    sink.write(chunk)
                    sink.flush()
        out.extra["filler_bytes"] = filler.stat().st_size
        # The findings alone may fit in the last blocks the node's segments already have: write ballast (1 MiB
        # records on a topic of its own, replicated to every node) until the node must allocate and cannot.
        ballast = f"{ctx.prefix}.faults-ballast"
        ensure_topics(ctx.bootstrap, ctx.prefix, specs=(), extra=[(ballast, BALLAST)])
        producer = KafkaProducer(bootstrap_servers=ctx.bootstrap, acks=1, max_request_size=2 << 20,
                                 request_timeout_ms=5000)
        deadline = time.monotonic() + 60  # the broker fails its log dir and stops (its only one)
        sent = 0
        try:
            while node.running_pid() is not None and time.monotonic() < deadline and sent < 300:
                with contextlib.suppress(Exception):
                    for partition in range(BALLAST.partitions):
                        producer.send(ballast, b"\0" * (1 << 20), partition=partition)
                        sent += 1
                    producer.flush(10)
                time.sleep(0.5)
        finally:
            producer.close(5)
        out.extra["ballast_mib_sent"] = sent
        out.extra["node_stopped_itself"] = node.running_pid() is None
        log = node.log_file.read_text(errors="replace") if node.log_file.exists() else ""
        out.extra["broker_log_says"] = [line[:200] for line in log.splitlines()
                                        if "No space left" in line or "offline" in line.lower()][:3]
        time.sleep(4)
        filler.unlink()
        node.stop(kill=True)  # if it still ran with its log dir offline
        node.start()
        expect_back_in_every_isr(ctx, node.node_id, out)
    _load_while(ctx, name, inject, ctx.duration * (4 if ctx.short else 2))
    _statuses(ctx, name, out)
    return out


CLUSTER_SCENARIOS: list[tuple[str, Scenario]] = [
    ("kill_leader_broker", kill_leader_broker),
    ("rolling_restart", rolling_restart),
    ("network_partition_dispatch", network_partition_dispatch),
    ("slow_broker", slow_broker),
    ("disk_full", disk_full),
]
# Scenarios that need the run's network namespace (root and iproute2); listed as skipped, with why, without it.
NEEDS_NETNS = {"network_partition_dispatch"}
# Scenarios that need a node's data directory on a small loop-mounted volume (root, mount, mkfs.ext4).
NEEDS_SMALL_DISK = {"disk_full"}
