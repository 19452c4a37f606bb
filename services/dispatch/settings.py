"""Dispatch settings: broker, topics, consumer group; deadline defaults live in domain.deadlines.DeadlinePolicy."""

from __future__ import annotations

from services.common.settings import KafkaSettings


class DispatchSettings(KafkaSettings):
    # How often each worker looks for referrals past their acceptance deadline.
    deadline_check_interval_seconds: float = 60.0
    # How often the open-case and open/overdue-referral gauges are recounted from the tables.
    metrics_refresh_interval_seconds: float = 15.0
    # Longest a batch may take before the worker gives up on it (and stops, uncommitted); the group's rebalance
    # timeout is twice this, so a rebalance never hands on partitions while a batch of this worker still runs.
    batch_deadline_seconds: float = 20.0
