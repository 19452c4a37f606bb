"""Per-caller rate limits as token buckets, and the brute-force guard on failed authentication built on them.

The clock is passed in, so the policy is tested without waiting. Used by patrol and info-share.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from services.common.jwt_auth import AuthError

T = TypeVar("T")


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0  # whole seconds until one token is back (the Retry-After header)


class Buckets(Protocol):
    """Token buckets by caller key: ``TokenBuckets`` in one process's memory, or a table several processes share."""

    def take(self, key: str, now: float, cost: float = 1.0) -> RateDecision: ...

    def peek(self, key: str, now: float, cost: float = 1.0) -> RateDecision: ...


@dataclass(frozen=True)
class BucketPolicy:
    """The arithmetic of one token bucket: ``burst`` tokens at most, refilled at ``per_minute``."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("rate limits need per_minute > 0 and burst >= 1")

    @property
    def rate_per_second(self) -> float:
        return self.per_minute / 60.0

    @property
    def full_after(self) -> float:
        """Seconds an empty bucket takes to refill: a bucket untouched that long is the same as a new one."""
        return self.burst / self.rate_per_second

    def refilled(self, tokens: float, at: float, now: float) -> float:
        return min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_second)

    def decide(self, tokens: float, cost: float) -> RateDecision:
        if tokens >= cost:
            return RateDecision(True)
        return RateDecision(False, max(1, math.ceil((cost - tokens) / self.rate_per_second)))


class TokenBuckets:
    """``burst`` requests at once, refilled at ``per_minute``; one bucket per caller key, in this process."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self._policy = BucketPolicy(per_minute, burst)
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, now: float, cost: float = 1.0) -> RateDecision:
        tokens = self._tokens(key, now)
        decision = self._policy.decide(tokens, cost)
        self._store(key, tokens - cost if decision.allowed else tokens, now)
        return decision

    def peek(self, key: str, now: float, cost: float = 1.0) -> RateDecision:
        """What ``take`` would answer now, taking nothing."""
        return self._policy.decide(self._tokens(key, now), cost)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self._policy.burst), now))
        return self._policy.refilled(tokens, at, now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            # A bucket that has refilled completely is the same as no bucket: forget those to bound memory.
            full_after = self._policy.full_after
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

    def __init__(self, per_minute: float, burst: int, buckets: Buckets | None = None) -> None:
        """``buckets`` (refilled at ``per_minute`` up to ``burst``) when the budget is shared with other processes."""
        self._buckets: Buckets = buckets or TokenBuckets(per_minute, burst)

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
