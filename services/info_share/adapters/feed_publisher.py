"""Publish the register's feed entries on the public feed topic (the worker's Faust topic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.common.envelope import encode
from services.info_share import metrics
from services.info_share.service import Result

SOURCE = "/info-share/feed"


class FeedPublisher:
    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def publish(self, result: Result) -> None:
        if result.entry is None:
            return
        out = encode(result.entry, event_id=result.entry.event_id, source=SOURCE, key=result.entry.case_id,
                     subject=result.entry.case_id, time=result.entry.occurred_at)
        await self._topic.send(key=out.key, value=out.value, headers=out.headers)
        if result.outcome == "applied":
            delay = (datetime.now(UTC) - result.entry.occurred_at).total_seconds()
            metrics.FEED_DELAY_SECONDS.observe(max(0.0, delay))
