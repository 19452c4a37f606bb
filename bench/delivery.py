"""Referral delivery at the national number of bodies: per-body topics on the real broker, at one prefecture's count
and at the country's, in the same run, on a broker of this benchmark's own (docs/benchmarks.md, "Referral delivery").

    python -m bench.delivery [--bodies N] [--sends N] [--repeats N]   # prints one JSON line

For each count it measures what a deployment that gives every body its two topics pays (services/common/
delivery.py): creating the topics, the broker's resident memory after, one metadata request over every topic (what
the relay's pattern subscription and a producer that has written to every body's topic repeat at each metadata
refresh), and the latency of a referral-sized record from a producer to the body's own consumer. The prefecture's
count (the reference data's bodies) is measured first and is the baseline; the national count adds the bodies of
every township-level unit and county of the country to the same broker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from deploy.kafka.local_kafka import LocalKafka, free_port
from services.common.topics import referrals_topic, responses_topic
from services.reference.loader import ReferenceData, coordination_id, load_national_townships, load_reference_data

RECORD_BYTES = 2_000  # a ReferralIssued record with its finding: ~1.5–2.5 kB of JSON
CREATE_BATCH = 1_000


def national_bodies(reference: ReferenceData) -> list[str]:
    """The bodies of the whole country on the reference data's pattern: per township-level unit its office and the
    dispatched agencies its counterpart in the reference data has; per county the county teams of the reference
    data's departments and the coordination body."""
    local = sorted(reference.townships)
    agencies: dict[str, list[str]] = {code: [] for code in local}
    departments: set[str] = set()
    for body in reference.bodies():
        kind, code, *rest = body.body_id.split(":")
        if kind == "agency":
            agencies[code].append(rest[0])
        elif kind == "team":
            departments.add(rest[0])
    bodies: list[str] = []
    counties: set[str] = set()
    for index, township in enumerate(load_national_townships()):
        bodies.append(f"township:{township.code}")
        bodies += [f"agency:{township.code}:{kind}" for kind in agencies[local[index % len(local)]]]
        counties.add(township.county_code)
    for county in sorted(counties):
        bodies += [f"team:{county}:{department}" for department in sorted(departments)]
        bodies.append(coordination_id(county))
    return bodies


def broker_map_areas(broker: LocalKafka) -> int:
    """Memory map areas of the broker process: each partition's index files are mapped, and the kernel's
    ``vm.max_map_count`` (65,530 by default) caps them; past it the broker takes its log directory offline."""
    pid = broker.running_pid()
    assert pid is not None, "the benchmark's broker is not running"
    return sum(1 for _ in Path(f"/proc/{pid}/maps").open())


def broker_rss_bytes(broker: LocalKafka) -> int:
    pid = broker.running_pid()
    assert pid is not None, "the benchmark's broker is not running"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def create_topics(admin: KafkaAdminClient, names: list[str]) -> float:
    """Seconds to create ``names`` (one partition each, as a body's topics are), in batches as an admin tool would."""
    started = time.perf_counter()
    for start in range(0, len(names), CREATE_BATCH):
        batch = [NewTopic(name, 1, 1) for name in names[start:start + CREATE_BATCH]]
        admin.create_topics(batch, timeout_ms=300_000)
    return time.perf_counter() - started


def metadata_seconds(bootstrap: str, repeats: int) -> tuple[float, int]:
    """(median seconds, topics) of one metadata request for every topic, from a fresh client each time."""
    times, count = [], 0
    for _ in range(repeats):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=300_000)
        try:
            started = time.perf_counter()
            count = len(admin.list_topics())
            times.append(time.perf_counter() - started)
        finally:
            admin.close()
    return statistics.median(times), count


def delivery_latency(bootstrap: str, topics: list[str], sends: int) -> dict[str, float]:
    """Producer → the body's consumer, one record at a time spread over ``topics``: p50, p99 and max in seconds."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    parts = [TopicPartition(topic, 0) for topic in topics]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for part in parts:
        consumer.position(part)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    payload = b"x" * RECORD_BYTES
    for topic in topics:  # warm up: the producer's first send to a topic waits for that topic's metadata
        producer.send(topic, payload, key=b"warm-up")
    producer.flush()
    for _ in range(3):
        consumer.poll(timeout_ms=500)
    latencies = []
    try:
        for n in range(sends):
            topic = topics[n % len(topics)]
            sent = time.perf_counter()
            producer.send(topic, payload, key=str(n).encode())
            producer.flush()
            got = False
            while not got:
                for records in consumer.poll(timeout_ms=1000).values():
                    got = got or any(r.key == str(n).encode() for r in records)
                if time.perf_counter() - sent > 30:
                    raise TimeoutError(f"record {n} on {topic} not delivered in 30 s")
            latencies.append(time.perf_counter() - sent)
    finally:
        producer.close()
        consumer.close()
    latencies.sort()
    return {"p50_s": latencies[len(latencies) // 2], "p99_s": latencies[int(len(latencies) * 0.99) - 1],
            "max_s": latencies[-1]}


def _until_listed(bootstrap: str, expected: int, timeout_s: float = 600.0) -> float:
    """Seconds after the last create call until the broker's metadata lists ``expected`` topics."""
    started = time.perf_counter()
    while True:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=300_000)
        try:
            if len(admin.list_topics()) >= expected:
                return time.perf_counter() - started
        finally:
            admin.close()
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"fewer than {expected} topics in the metadata after {timeout_s:.0f} s")
        time.sleep(1)


def measure(bootstrap: str, broker: LocalKafka, admin: KafkaAdminClient, bodies: list[str], prefix: str,
            sends: int, repeats: int, already: int = 0) -> dict[str, Any]:
    """``already``: topics on the broker before these."""
    names = [name for body in bodies for name in (referrals_topic(body, prefix), responses_topic(body, prefix))]
    created = create_topics(admin, names)
    expected = len(names) + already
    visible = _until_listed(bootstrap, expected)
    metadata, listed = metadata_seconds(bootstrap, repeats)
    sample = [referrals_topic(body, prefix) for body in bodies[:: max(1, len(bodies) // 20)]][:20]
    return {"bodies": len(bodies), "topics_created": len(names), "create_s": round(created, 2),
            "until_all_in_metadata_s": round(visible, 2),
            "topics_on_broker": listed, "broker_rss_bytes": broker_rss_bytes(broker),
            "broker_map_areas": broker_map_areas(broker),
            "metadata_all_topics_s": round(metadata, 3),
            "latency": {k: round(v, 4) for k, v in delivery_latency(bootstrap, sample, sends).items()}}


def broker_open_files(broker: LocalKafka) -> int:
    pid = broker.running_pid()
    assert pid is not None, "the benchmark's broker is not running"
    return len(os.listdir(f"/proc/{pid}/fd"))


def broker_open_files_limit(broker: LocalKafka) -> int:
    pid = broker.running_pid()
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise RuntimeError("no open-files limit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bodies", type=int, default=0,
                        help="national bodies to give topics (default: as many as half the broker's open-files "
                             "limit allows; the whole country's need more than any limit this machine grants)")
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    reference = load_reference_data()
    prefecture = sorted(body.body_id for body in reference.bodies())
    national = national_bodies(reference)
    work = Path(tempfile.mkdtemp(prefix="liandong-bench-delivery-"))
    broker = LocalKafka(work / "kafka", port=free_port(), controller_port=free_port())
    result: dict[str, Any] = {"national_bodies": len(national), "national_topics_needed": 2 * len(national)}
    try:
        broker.start()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=300_000)
        try:
            files_before = broker_open_files(broker)
            result["prefecture"] = measure(broker.bootstrap_servers, broker, admin, prefecture, "prefecture",
                                           args.sends, args.repeats)
            files = broker_open_files(broker)
            limit = broker_open_files_limit(broker)
            per_topic = (files - files_before) / (2 * len(prefecture))
            # A broker past its open-files limit takes its log directory offline (seen: "Too many open files"
            # while the country's topics were created); stay at half the limit.
            fits = int((limit / 2 - files) / max(per_topic, 1e-9) / 2)
            large = national[:args.bodies or min(len(national), fits)]
            result["national_sample"] = measure(broker.bootstrap_servers, broker, admin, large, "national",
                                                args.sends, args.repeats, already=2 * len(prefecture))
            result["broker_open_files"] = broker_open_files(broker)
            result["broker_open_files_limit"] = limit
            result["open_files_per_topic"] = round(per_topic, 2)
            result["national_open_files_projected"] = round(2 * len(national) * per_topic)
            small, big = result["prefecture"], result["national_sample"]
            slope = ((big["metadata_all_topics_s"] - small["metadata_all_topics_s"])
                     / max(1, big["topics_on_broker"] - small["topics_on_broker"]))
            result["national_metadata_s_projected"] = round(
                small["metadata_all_topics_s"] + slope * (2 * len(national) - small["topics_on_broker"]), 1)
        finally:
            admin.close()
    except Exception:
        # What the broker said, before its directory goes: a broker out of open files, map areas or memory says so.
        log = broker.log_file.read_text(errors="replace").splitlines() if broker.log_file.exists() else []
        first_errors = [line for line in log if " ERROR " in line or "Exception" in line][:20]
        print("\n".join([*first_errors, "...", *log[-20:]]), file=sys.stderr)
        raise
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["vm_max_map_count"] = int(Path("/proc/sys/vm/max_map_count").read_text())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
