"""Per-caller rate limits as token buckets; the clock is passed in, so the policy is tested without waiting."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0  # whole seconds until one token is back (the Retry-After header)


class TokenBuckets:
    """``burst`` requests at once, refilled at ``per_minute``; one bucket per caller key."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limits need per_minute > 0 and burst >= 1")
        self._rate_per_second = per_minute / 60.0
        self._burst = float(burst)
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, now: float, cost: float = 1.0) -> RateDecision:
        tokens, at = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - at) * self._rate_per_second)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return RateDecision(True)
        self._store(key, tokens, now)
        return RateDecision(False, max(1, math.ceil((cost - tokens) / self._rate_per_second)))

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            # A bucket that has refilled completely is the same as no bucket: forget those to bound memory.
            full_after = self._burst / self._rate_per_second
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
