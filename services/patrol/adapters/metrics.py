"""Prometheus metrics of the patrol service (prefix liandong_, bounded labels, never ids)."""

from prometheus_client import Counter, Gauge, Histogram

from services.common import http_metrics

FINDINGS_ACCEPTED = Counter(
    "liandong_patrol_findings_accepted_total", "Findings acknowledged by the broker and answered as accepted",
    ["api", "township", "category", "source"],
)
FINDINGS_REPLAYED = Counter(
    "liandong_patrol_findings_replayed_total", "Repeated idempotency keys answered with the earlier acceptance",
    ["api"],
)
FINDINGS_REJECTED = Counter(
    "liandong_patrol_findings_rejected_total", "Writes refused with a client error (4xx)", ["api", "reason"],
)
PUBLISH_FAILURES = Counter(
    "liandong_patrol_publish_failures_total", "Findings not acknowledged by the broker (answered 503)", ["api"],
)
# Born at 0 for both APIs: a series born at 1 hides the first failure of a process from increase() and rate(), so
# LiandongFindingsNotAcknowledged would miss a broker that stalls once after a restart.
for _api in ("json", "open311"):
    PUBLISH_FAILURES.labels(_api)
PUBLISH_SECONDS = Histogram(
    "liandong_patrol_publish_duration_seconds", "Time from handing findings to the producer to the broker's ack",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Shared with info-share (one histogram, label ``service``): services/common/http_metrics.py.
REQUEST_SECONDS = http_metrics.REQUEST_SECONDS
# The read-model worker (python -m services.patrol.entrypoints.case_views).
CASE_VIEW_EVENTS = Counter(
    "liandong_patrol_case_view_events_total", "Case events read into patrol's case view, by outcome",
    ["event", "outcome"],  # outcome: applied, duplicate, ignored, not_applicable, poison
)
CASE_VIEW_LAG_MESSAGES = Gauge(
    "liandong_patrol_case_view_lag_messages", "Case events on the topic not yet in patrol's case view",
    ["partition"],
)
