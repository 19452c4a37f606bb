"""Wait for a condition with a deadline instead of sleeping for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(probe: Callable[[], T], timeout_seconds: float = 30.0, interval_seconds: float = 0.1,
               message: str = "condition") -> T:
    """Call ``probe`` until it returns something truthy; return that, or fail with the last value seen."""
    deadline = time.monotonic() + timeout_seconds
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout_seconds}s (last: {last!r})")
        time.sleep(interval_seconds)
        last = probe()
    return last
