"""Serve consumer lag in kafka_exporter's names: poll the broker on an interval, answer scrapes from the snapshot.

``kafka_consumergroup_lag_sum`` is not served here: promtool's lint refuses a ``_sum`` suffix on a gauge, so
Prometheus derives it with a recording rule (deploy/prometheus/recording.yml) under kafka_exporter's name.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.monitor.lag import Snapshot, partition_lags

log = logging.getLogger(__name__)


class LagExporter:
    """Holds the latest snapshot; ``poll_once`` refreshes it, ``registry`` exposes it.

    Lag older than ``max_age_seconds`` is not served: a stale number would say "all is well" while the broker is
    unreachable. Then only the exporter's own metrics remain, and the broker-unreachable alert speaks.
    """

    def __init__(self, source: Callable[[], Snapshot], max_age_seconds: float,
                 skip_uncommitted: re.Pattern[str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.max_age_seconds = max_age_seconds
        self.skip_uncommitted = skip_uncommitted
        self.clock = clock
        self._snapshot: Snapshot | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter("liandong_lag_exporter_polls_total", "Polls of the broker's group and log offsets",
                             ["outcome"], registry=self.registry)
        for outcome in ("ok", "error"):
            self.polls.labels(outcome)  # both series exist from the start, so rate() sees the first error
        self.poll_seconds = Histogram("liandong_lag_exporter_poll_duration_seconds", "Time to read one snapshot",
                                      buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.last_success = Gauge("liandong_lag_exporter_last_success_timestamp_seconds",
                                  "Unix time of the last snapshot read from the broker", registry=self.registry)
        self.registry.register(_SnapshotCollector(self))
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot if still fresh enough to serve."""
        snapshot = self._snapshot
        if snapshot is None or self.clock() - snapshot.taken_at > self.max_age_seconds:
            return None
        return snapshot

    def poll_once(self) -> bool:
        started = time.perf_counter()
        try:
            snapshot = self.source()
        except Exception as exc:  # any failure is reported as a metric and retried at the next interval
            self.polls.labels("error").inc()
            log.warning("reading offsets failed: %s: %s", type(exc).__name__, exc)
            return False
        finally:
            self.poll_seconds.observe(time.perf_counter() - started)
        self._snapshot = snapshot
        self.polls.labels("ok").inc()
        self.last_success.set(snapshot.taken_at)
        return True


class _SnapshotCollector(Collector):
    def __init__(self, exporter: LagExporter) -> None:
        self.exporter = exporter

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the snapshot; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        snapshot = self.exporter.snapshot
        if snapshot is None:
            return
        lags = partition_lags(snapshot, self.exporter.skip_uncommitted)
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "Records a group has yet to consume, per partition",
                                labels=["consumergroup", "topic", "partition"])
        current = GaugeMetricFamily("kafka_consumergroup_current_offset", "Offset a group has committed",
                                    labels=["consumergroup", "topic", "partition"])
        for item in lags:
            lag.add_metric([item.group, item.topic, str(item.partition)], item.lag)
            if item.committed is not None:
                current.add_metric([item.group, item.topic, str(item.partition)], item.committed)
        members = GaugeMetricFamily("kafka_consumergroup_members", "Live members of a consumer group",
                                    labels=["consumergroup"])
        for group in snapshot.groups:
            members.add_metric([group.group], group.members)
        newest = GaugeMetricFamily("kafka_topic_partition_current_offset",
                                   "Offset the next record of a partition will get", labels=["topic", "partition"])
        oldest = GaugeMetricFamily("kafka_topic_partition_oldest_offset", "Oldest offset still in a partition",
                                   labels=["topic", "partition"])
        for (topic, partition), offset in sorted(snapshot.end_offsets.items()):
            newest.add_metric([topic, str(partition)], offset)
            oldest.add_metric([topic, str(partition)], snapshot.start_offsets.get((topic, partition), 0))
        yield from (lag, current, members, newest, oldest)


def wsgi_app(exporter: LagExporter) -> Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]:
    """/metrics for Prometheus, /healthz for the orchestrator (the process serves; broker state is in /metrics)."""
    metrics = make_wsgi_app(exporter.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return list(metrics(environ, start_response))
        if path == "/healthz":
            snapshot = exporter.snapshot
            body = {"status": "ok", "fresh_snapshot": snapshot is not None}
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the log


def serve(exporter: LagExporter, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve in a daemon thread; the caller stops it with ``server.shutdown()``."""
    server = make_server(host, port, wsgi_app(exporter), _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="lag-exporter-http", daemon=True)
    thread.start()
    return server, thread
