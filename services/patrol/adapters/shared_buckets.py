"""Token buckets in a file every patrol worker process maps, so N workers allow the configured rate, not N times it.

A fixed table of slots — (key hash, tokens, time of the last update) — in a memory-mapped file, each operation under
an exclusive ``flock`` of that file (the kernel drops the lock of a process that dies, so a killed worker cannot
leave the others waiting) and a thread lock (``flock`` does not exclude threads of one process). Times are
``time.monotonic()``, which is the same clock in every process of the host. The refill arithmetic is
``BucketPolicy``'s, as in the in-process ``TokenBuckets``.

Keys are hashed to 64 bits (BLAKE2b; two keys sharing a hash would share a bucket — at 2^-64 a pair, never in
practice) and placed by linear probing within a window of slots. A key that finds neither its slot nor a free one
in its window takes the slot of a bucket that has refilled completely (the same as no bucket); when every bucket in
the window is in use, the one untouched longest — the only case where a caller's spent tokens are forgotten, with
more than ``SLOTS`` callers active within one refill period.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from pathlib import Path

from services.common.rate_limit import BucketPolicy, RateDecision

SLOTS = 1 << 17  # 131,072 callers; 3 MiB
WINDOW = 64  # slots probed for a key
_SLOT = struct.Struct("<Qdd")  # key hash (0: free), tokens, at


class SharedTokenBuckets:
    def __init__(self, path: Path, per_minute: float, burst: int, slots: int = SLOTS) -> None:
        self._policy = BucketPolicy(per_minute, burst)
        self._slots = slots
        size = slots * _SLOT.size
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with self._locked():
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)  # a new table: all slots free (zeros)
        self._map = mmap.mmap(self._fd, size)
        self._thread_lock = threading.Lock()

    def take(self, key: str, now: float, cost: float = 1.0) -> RateDecision:
        with self._thread_lock, self._locked():
            slot, tokens = self._find(key, now)
            decision = self._policy.decide(tokens, cost)
            _SLOT.pack_into(self._map, slot * _SLOT.size, _hash(key), tokens - cost if decision.allowed else tokens,
                            now)
            return decision

    def peek(self, key: str, now: float, cost: float = 1.0) -> RateDecision:
        with self._thread_lock, self._locked():
            return self._policy.decide(self._find(key, now)[1], cost)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def _find(self, key: str, now: float) -> tuple[int, float]:
        """The key's slot (or the one it will take) and its tokens now."""
        wanted = _hash(key)
        start = wanted % self._slots
        full_after = self._policy.full_after
        reusable: int | None = None
        stalest: tuple[float, int] | None = None
        for step in range(WINDOW):
            slot = (start + step) % self._slots
            held, tokens, at = _SLOT.unpack_from(self._map, slot * _SLOT.size)
            if held == wanted:
                return slot, self._policy.refilled(tokens, at, now)
            if held == 0:
                # Slots are never freed, only reused, so the key is not further on.
                return slot, float(self._policy.burst)
            if reusable is None and now - at >= full_after:
                reusable = slot
            if stalest is None or at < stalest[0]:
                stalest = (at, slot)
        assert stalest is not None
        return (reusable if reusable is not None else stalest[1]), float(self._policy.burst)

    def _locked(self) -> _FileLock:
        return _FileLock(self._fd)


class _FileLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def _hash(key: str) -> int:
    # Never 0, which marks a free slot.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") | 1
