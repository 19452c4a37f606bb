"""Prometheus metrics of the info-share worker and API (label values are bounded sets)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter(
    "liandong_info_share_events_applied_total", "Case events read by the register, by outcome",
    ["event", "outcome"],  # outcome: applied, duplicate, orphan, not_applicable, poison
)
FEED_LAG_MESSAGES = Gauge(
    "liandong_info_share_feed_lag_messages", "Case events on the topic not yet in the register and feed",
    ["partition"],
)
FEED_DELAY_SECONDS = Histogram(
    "liandong_info_share_feed_delay_seconds", "From an event's occurred_at to its feed entry being published",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
MASKED = Counter(
    "liandong_info_share_masked_total", "Personal data masked in feed entries and API answers",
    ["kind", "audience"],  # kind: resident_id, phone, plate, name; audience: official, public
)
QUERY_SECONDS = Histogram(
    "liandong_info_share_query_seconds", "Time to answer an API request",
    ["route", "status_class"],  # route: the path template, never the raw path
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LIVE_STREAMS = Gauge("liandong_info_share_live_streams", "Open Server-Sent Events feed streams")
