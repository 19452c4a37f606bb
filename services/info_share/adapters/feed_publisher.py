"""Publish the register's feed entries on the public feed topic (the worker's Faust topic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import FeedEntry
from services.common.envelope import encode
from services.info_share import metrics

SOURCE = "/info-share/feed"


class FeedPublisher:
    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def publish(self, entry: FeedEntry | None, outcome: str) -> None:
        # A duplicate's entry is published again: an earlier run may have died before publishing it.
        if entry is None:
            return
        out = encode(entry, event_id=entry.event_id, source=SOURCE, key=entry.case_id, subject=entry.case_id,
                     time=entry.occurred_at)
        await self._topic.send(key=out.key, value=out.value, headers=out.headers)
        if outcome == "applied":
            delay = (datetime.now(UTC) - entry.occurred_at).total_seconds()
            metrics.FEED_DELAY_SECONDS.observe(max(0.0, delay))
