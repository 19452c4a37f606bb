"""Prometheus metrics of the patrol service (prefix liandong_, bounded labels, never ids)."""

from prometheus_client import Counter, Histogram

FINDINGS_ACCEPTED = Counter(
    "liandong_patrol_findings_accepted_total", "Findings acknowledged by the broker and answered 202",
    ["township", "category", "source"],
)
FINDINGS_REJECTED = Counter(
    "liandong_patrol_findings_rejected_total", "Findings refused with a client error", ["reason"],
)
PUBLISH_FAILURES = Counter(
    "liandong_patrol_publish_failures_total", "Findings not acknowledged by the broker (answered 503)",
)
REQUEST_SECONDS = Histogram(
    "liandong_http_request_duration_seconds", "HTTP request latency", ["service", "route", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
