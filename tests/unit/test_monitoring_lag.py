"""Consumer lag arithmetic and the exporter's exposition, with snapshots built by hand (no broker)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from services.monitor.exporter import LagExporter, wsgi_app
from services.monitor.lag import GroupOffsets, Snapshot, partition_lags
from services.monitor.settings import MonitorSettings

CHANGELOG = re.compile(r"-changelog$")


def snapshot(*groups: GroupOffsets, ends: dict[tuple[str, int], int], starts: dict[tuple[str, int], int] | None = None,
             taken_at: float = 1000.0) -> Snapshot:
    return Snapshot(groups=groups, end_offsets=ends, start_offsets=starts or {}, taken_at=taken_at,
                    topics=frozenset(t for t, _ in ends))


def lags(snap: Snapshot) -> dict[tuple[str, str, int], int]:
    return {(lag.group, lag.topic, lag.partition): lag.lag for lag in partition_lags(snap, CHANGELOG)}


def test_lag_is_end_minus_committed_offset() -> None:
    group = GroupOffsets("g-dispatch", {("t.findings", 0): 7, ("t.findings", 1): 10})
    assert lags(snapshot(group, ends={("t.findings", 0): 10, ("t.findings", 1): 10})) == {
        ("g-dispatch", "t.findings", 0): 3, ("g-dispatch", "t.findings", 1): 0}


def test_assigned_partition_never_committed_counts_from_the_log_start() -> None:
    # A consumer stuck on its very first record has committed nothing: its lag must still show.
    group = GroupOffsets("g-info-share", {}, assigned=frozenset({("t.case-events", 2)}), members=1)
    ends = {("t.case-events", 2): 5}
    assert lags(snapshot(group, ends=ends, starts={("t.case-events", 2): 1})) == {
        ("g-info-share", "t.case-events", 2): 4}


def test_table_changelogs_are_not_inferred_as_lag() -> None:
    # Faust replays changelogs to recover tables and never commits them: counting them would show false lag forever.
    group = GroupOffsets("g-dispatch", {}, assigned=frozenset({("g-dispatch-cases-changelog", 0), ("t.findings", 0)}))
    ends = {("g-dispatch-cases-changelog", 0): 500, ("t.findings", 0): 0}
    assert lags(snapshot(group, ends=ends)) == {("g-dispatch", "t.findings", 0): 0}


def test_commit_below_the_retained_log_counts_from_the_log_start() -> None:
    group = GroupOffsets("g", {("t.feed", 0): 2})
    assert lags(snapshot(group, ends={("t.feed", 0): 50}, starts={("t.feed", 0): 40})) == {("g", "t.feed", 0): 10}


def test_no_commit_marker_and_unknown_partitions_are_left_out() -> None:
    group = GroupOffsets("g", {("t.findings", 0): -1, ("deleted-topic", 0): 4})
    assert lags(snapshot(group, ends={("t.findings", 0): 9})) == {}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def broker_away() -> Snapshot:
    raise ConnectionError("broker unreachable")


def scrape(exporter: LagExporter) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name, as Prometheus would store them."""
    body = call(wsgi_app(exporter), "/metrics")[1]
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def call(app: Callable[..., list[bytes]], path: str) -> tuple[str, bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, _headers: list[tuple[str, str]]) -> None:
        answer["status"] = status

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": "", "wsgi.url_scheme": "http"}
    body = b"".join(app(environ, start_response))
    return answer["status"], body


def test_exporter_serves_kafka_exporter_names_and_labels() -> None:
    group = GroupOffsets("g-dispatch", {("t.findings", 0): 7}, assigned=frozenset({("t.findings", 1)}), members=2)
    snap = snapshot(group, ends={("t.findings", 0): 10, ("t.findings", 1): 4, ("t.dead-letters", 0): 1})
    exporter = LagExporter(lambda: snap, max_age_seconds=30, skip_uncommitted=CHANGELOG, clock=Clock(1010.0))
    assert exporter.poll_once()
    families = scrape(exporter)
    assert families["kafka_consumergroup_lag"] == [
        ({"consumergroup": "g-dispatch", "topic": "t.findings", "partition": "0"}, 3.0),
        ({"consumergroup": "g-dispatch", "topic": "t.findings", "partition": "1"}, 4.0)]
    assert families["kafka_consumergroup_current_offset"] == [
        ({"consumergroup": "g-dispatch", "topic": "t.findings", "partition": "0"}, 7.0)]
    assert families["kafka_consumergroup_members"] == [({"consumergroup": "g-dispatch"}, 2.0)]
    assert ({"topic": "t.dead-letters", "partition": "0"}, 1.0) in families["kafka_topic_partition_current_offset"]
    # promtool's lint refuses a gauge named *_sum: the per-topic sum is a recording rule in Prometheus instead.
    assert "kafka_consumergroup_lag_sum" not in families
    assert families["liandong_lag_exporter_last_success_timestamp_seconds"] == [({}, 1000.0)]


def test_stale_snapshot_is_withdrawn_and_failures_are_counted() -> None:
    clock = Clock(1000.0)
    sources = [lambda: snapshot(GroupOffsets("g", {("t.findings", 0): 1}), ends={("t.findings", 0): 2}), broker_away]
    exporter = LagExporter(lambda: sources.pop(0)(), max_age_seconds=15, clock=clock)
    assert exporter.poll_once() and not exporter.poll_once()
    assert "kafka_consumergroup_lag" in scrape(exporter)
    clock.now = 1016.0
    families = scrape(exporter)
    assert "kafka_consumergroup_lag" not in families
    polls = {labels["outcome"]: value for labels, value in families["liandong_lag_exporter_polls_total"]}
    assert polls == {"ok": 1.0, "error": 1.0}


def test_healthz_answers_while_the_broker_is_away() -> None:
    exporter = LagExporter(broker_away, max_age_seconds=15)
    exporter.poll_once()
    assert call(wsgi_app(exporter), "/healthz") == ("200 OK", b'{"status": "ok", "fresh_snapshot": false}')
    assert call(wsgi_app(exporter), "/nothing")[0] == "404 Not Found"


def test_default_patterns_watch_this_deployment_only() -> None:
    settings = MonitorSettings(group_prefix="liandong", topic_prefix="liandong")
    assert settings.group_pattern().search("liandong-dispatch")
    assert not settings.group_pattern().search("other-dispatch")
    assert settings.topic_pattern().search("liandong.referrals.team.210603.water")
    assert not settings.topic_pattern().search("liandongx.findings")
