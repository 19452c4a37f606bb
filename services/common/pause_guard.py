"""Failure policy of the stream workers: exit without committing, and stop a worker that was frozen too long."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import NoReturn


def stop_on_unexpected_error(log: logging.Logger, exc: BaseException) -> NoReturn:
    """Failure policy for a bug or an outage we cannot handle: exit at once, without committing.

    A framework would otherwise restart the handler and may ack the event that failed. Exiting leaves every offset
    past the last commit uncommitted, so after a restart the events are processed again — safely, as handlers are
    idempotent.
    """
    log.critical("unexpected error; stopping this worker without committing: %r", exc, exc_info=exc)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE


class PauseGuard:
    """Stops a worker that was frozen (SIGSTOP, a VM stall, swapping) long enough to have lost its partitions.

    While a process is frozen its consumer group may hand its partitions to another worker. On waking, it could act
    on the stale ownership — decide a finding the new owner decides too — before its heartbeat learns of the
    rebalance. The guard's ticker notices that it woke late, and each batch checks the time since the last tick;
    either way the worker exits without committing and is restarted with fresh ownership and state.
    """

    def __init__(self, limit_seconds: float, log: logging.Logger, tick_seconds: float = 0.5):
        self.limit_seconds = limit_seconds
        self.tick_seconds = tick_seconds
        self.log = log
        self.last_tick = time.monotonic()
        self._excused = False

    async def run(self) -> None:
        """The ticker: run it as a task of the worker's event loop, from the moment the worker joins its group."""
        self.last_tick = time.monotonic()
        while True:
            await asyncio.sleep(self.tick_seconds)
            self.tick()

    def tick(self) -> None:
        self.check("the pause guard's timer woke late")
        self.last_tick = time.monotonic()

    @contextlib.contextmanager
    def excused(self) -> Iterator[None]:
        """Work this worker does on purpose while blocking its loop (restoring state) is not a pause."""
        self._excused = True
        try:
            yield
        finally:
            self._excused = False
            self.last_tick = time.monotonic()

    def check(self, where: str = "before a batch") -> None:
        if self._excused:
            return
        paused = time.monotonic() - self.last_tick
        if paused > self.limit_seconds:
            stop_on_unexpected_error(self.log, RuntimeError(
                f"process was paused for {paused:.1f}s ({where}), longer than {self.limit_seconds:.1f}s: "
                "its partitions may belong to another worker now"))
