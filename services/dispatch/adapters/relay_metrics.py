"""Prometheus metrics of the responses relay (entrypoints/relay.py).

Here, not in that module: it also runs as ``__main__``, and its command line builds the relay through the wiring,
which imports it again under its own name; metrics declared there would be registered twice.
"""

from prometheus_client import Counter, Histogram

RELAYED = Counter("liandong_relay_actions_relayed_total",
                  "Actions read from a body's responses topic and republished on referral-responses", ["action"])
REFUSED = Counter("liandong_relay_records_refused_total",
                  "Records of a body's responses topic sent to the dead-letter topic", ["kind"])
LATENCY = Histogram("liandong_relay_latency_seconds",
                    "From the broker's append to a body's responses topic to the republished action's ack",
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
