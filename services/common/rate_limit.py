"""Per-caller rate limits as token buckets, and the brute-force guard on failed authentication built on them.

The clock is passed in, so the policy is tested without waiting. Used by patrol and info-share.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from services.common.jwt_auth import AuthError

T = TypeVar("T")


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
        tokens = self._tokens(key, now)
        decision = self._decide(tokens, cost)
        self._store(key, tokens - cost if decision.allowed else tokens, now)
        return decision

    def peek(self, key: str, now: float, cost: float = 1.0) -> RateDecision:
        """What ``take`` would answer now, taking nothing."""
        return self._decide(self._tokens(key, now), cost)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + max(0.0, now - at) * self._rate_per_second)

    def _decide(self, tokens: float, cost: float) -> RateDecision:
        if tokens >= cost:
            return RateDecision(True)
        return RateDecision(False, max(1, math.ceil((cost - tokens) / self._rate_per_second)))

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            # A bucket that has refilled completely is the same as no bucket: forget those to bound memory.
            full_after = self._burst / self._rate_per_second
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}


class TooManyAuthFailures(Exception):
    """The client address used up its failed authentications: 429, credential not even looked at."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed authentications from this address; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class AuthFailureLimit:
    """Brute-force guard per client address: ``burst`` failed authentications, refilled at ``per_minute``.

    While an address has no failure left, every request of it that presents a credential is refused before the
    credential is checked — so a guesser cannot tell a right key from a wrong one — and a valid credential sent from
    that address is refused too until a failure is refilled. Successful authentications cost nothing.
    """

    def __init__(self, per_minute: float, burst: int) -> None:
        self._buckets = TokenBuckets(per_minute, burst)

    def authenticate(self, client_address: str, now: float, verify: Callable[[], T]) -> T:
        """``verify()``'s answer; TooManyAuthFailures when the address is locked out; its AuthError counts."""
        decision = self._buckets.peek(client_address, now)
        if not decision.allowed:
            raise TooManyAuthFailures(decision.retry_after_seconds)
        try:
            return verify()
        except AuthError:
            self._buckets.take(client_address, now)
            raise
