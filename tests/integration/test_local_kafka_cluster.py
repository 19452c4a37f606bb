"""The local three-node KRaft cluster: one cluster id, a quorum of all three, topics with the cluster's replication
(RF 3, min.insync.replicas 2), and acks=all writes that survive SIGKILL of a node — the leader of the partition."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from deploy.kafka.local_kafka import LocalKafkaCluster
from services.common.kafka_admin import ensure_topics
from services.common.topics import TopicSpec

pytestmark = pytest.mark.integration


def _describe(bootstrap: str, topic: str) -> dict[int, dict[str, object]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        (description,) = admin.describe_topics([topic])
        return {p["partition_index"]: p for p in description["partitions"]}
    finally:
        admin.close()


def _min_isr(bootstrap: str, topic: str) -> dict[str, object]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        response = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        (by_name,) = response.values()
        return dict(by_name[topic]["min.insync.replicas"])
    finally:
        admin.close()


def _read_all(bootstrap: str, topic: str, partitions: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        values: list[bytes] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                values += [r.value for r in records]
        return values
    finally:
        consumer.close()


def test_three_node_cluster_keeps_acknowledged_writes_through_a_leader_kill(tmp_path: Path) -> None:
    cluster = LocalKafkaCluster(tmp_path / "cluster")
    try:
        cluster.start()
        ids = set()
        for node in cluster.nodes:
            meta = (node.data_dir / "logs" / "meta.properties").read_text()
            ids |= {line for line in meta.splitlines() if line.startswith("cluster.id=")}
            assert f"node.id={node.node_id}" in meta
        assert len(ids) == 1, ids
        bootstrap = cluster.bootstrap_servers
        topic = "cluster-test.findings"
        spec = TopicSpec("findings", 3, "any", "a test topic", {"retention.ms": "-1"})
        ensure_topics(bootstrap, "cluster-test", specs=(), extra=[(topic, spec)], timeout_seconds=60)
        partitions = _describe(bootstrap, topic)
        assert sorted(len(p["replica_nodes"]) for p in partitions.values()) == [3, 3, 3]  # type: ignore[arg-type]
        min_isr = _min_isr(bootstrap, topic)
        assert min_isr["value"] == "2", min_isr  # the cluster's, not set on the topic

        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, retries=100,
                                 request_timeout_ms=10_000, delivery_timeout_ms=120_000)
        sent = [f"before-{i}".encode() for i in range(300)]
        for value in sent:
            producer.send(topic, value, partition=int(value[-1:]) % 3)
        producer.flush(60)
        leader = int(partitions[0]["leader_id"])  # type: ignore[call-overload]
        cluster.node(leader).stop(kill=True)
        after = [f"after-{i}".encode() for i in range(300)]
        futures = [producer.send(topic, value, partition=i % 3) for i, value in enumerate(after)]
        for future in futures:
            future.get(timeout=120)  # every one acknowledged by the two survivors (min.insync.replicas 2)
        producer.close()
        new_leaders = {p["leader_id"] for p in _describe(bootstrap, topic).values()}
        assert leader not in new_leaders

        cluster.node(leader).start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the returning node catches up and is back in every ISR
            if all(len(p["isr_nodes"]) == 3 for p in _describe(bootstrap, topic).values()):  # type: ignore[arg-type]
                break
            time.sleep(1)
        else:
            pytest.fail("the restarted node did not rejoin the ISR within 90 s")
        read = _read_all(bootstrap, topic, 3)
        assert sorted(read) == sorted(sent + after)  # nothing lost, nothing twice (idempotent producer)
    finally:
        cluster.stop(kill=True)
