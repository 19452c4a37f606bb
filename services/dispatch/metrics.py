"""Prometheus metrics of dispatch (prefix liandong_, bounded labels)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_EMITTED = Counter("liandong_dispatch_events_emitted_total", "Case events published by dispatch", ["event"])
OPEN_CASES = Gauge("liandong_dispatch_open_cases", "Open cases in this worker's dedup index")
E2E_SECONDS = Histogram(
    "liandong_dispatch_acceptance_to_referral_seconds",
    "From the patrol service's acceptance of a finding to its referral being published",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEADLINE_CHECKS = Counter("liandong_dispatch_deadline_checks_total",
                          "Deadline checks requested for referrals found past their deadline")
