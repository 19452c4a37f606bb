"""Kafka's own performance tools (ProducerPerformance, ConsumerPerformance) from the broker's jars: the broker limit."""

from __future__ import annotations

import re
import subprocess

from deploy.kafka.local_kafka import fetch_jars

_PRODUCED = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec .*50th", re.MULTILINE)


def _java(main_class: str, *args: str) -> list[str]:
    return ["java", "-Xms128m", "-Xmx512m", "-cp", f"{fetch_jars()}/*", main_class, *args]


def producer_performance(bootstrap_servers: str, topic: str, records: int, record_size_bytes: int) -> float:
    """Records per second Kafka's producer tool reaches (acks=all, as the services produce), unthrottled."""
    result = subprocess.run(
        _java("org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(records),
              "--record-size", str(record_size_bytes), "--throughput", "-1",
              "--producer-props", f"bootstrap.servers={bootstrap_servers}", "acks=all", "linger.ms=5"),
        capture_output=True, text=True, check=True, timeout=600,
    )
    match = _PRODUCED.search(result.stdout)
    if match is None or int(match.group(1)) != records:
        raise RuntimeError(f"unexpected ProducerPerformance output:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return float(match.group(2))


def consumer_performance(bootstrap_servers: str, topic: str, records: int, group: str) -> dict[str, float]:
    """Kafka's consumer tool reading ``records`` from the start: messages per second, with and without group join.

    ``nMsg.sec`` counts from the tool's start (including joining the group); ``fetch.nMsg.sec`` only the fetching.
    """
    result = subprocess.run(
        _java("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bootstrap_servers, "--topic", topic,
              "--messages", str(records), "--group", group, "--timeout", "60000"),
        capture_output=True, text=True, check=True, timeout=600,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if header_at is None or header_at + 1 >= len(lines):
        raise RuntimeError(f"unexpected ConsumerPerformance output:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    header = [h.strip() for h in lines[header_at].split(",")]
    values = [v.strip() for v in lines[header_at + 1].split(",")]
    row = dict(zip(header, values, strict=True))
    if int(row["data.consumed.in.nMsg"]) < records:
        raise RuntimeError(f"ConsumerPerformance read only {row['data.consumed.in.nMsg']} of {records} records")
    return {"msgs_per_s": float(row["nMsg.sec"]), "fetch_msgs_per_s": float(row["fetch.nMsg.sec"])}
