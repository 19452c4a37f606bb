"""Dispatch settings: broker, topics, consumer group; deadline defaults live in domain.deadlines.DeadlinePolicy."""

from __future__ import annotations

from services.common.settings import KafkaSettings


class DispatchSettings(KafkaSettings):
    pass
