"""Dispatch settings: broker, topics, consumer group, and the referral time limits (LIANDONG_* variables)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from services.common.deadlines import DeadlinePolicy
from services.common.settings import KafkaSettings
from services.dispatch.domain.retention import Retention

_DEFAULTS = DeadlinePolicy()


class DispatchSettings(KafkaSettings):
    # The time limits each district government publishes (docs/dispatch.md); the defaults are Dandong's.
    acceptance_working_days: int = Field(_DEFAULTS.acceptance_working_days, ge=1, le=60)
    extended_acceptance_working_days: int = Field(_DEFAULTS.extended_acceptance_working_days, ge=1, le=60)
    major_hours: float = Field(_DEFAULTS.major_hours, gt=0, le=24 * 30)
    dispute_working_days: int = Field(_DEFAULTS.dispute_working_days, ge=1, le=60)
    rework_working_days: int = Field(_DEFAULTS.rework_working_days, ge=1, le=60)

    # How often each worker looks for referrals past their acceptance deadline.
    deadline_check_interval_seconds: float = 60.0
    # Retention (services/dispatch/domain/retention.py): a closed case's files and referrals leave the state after
    # the first, the closed case itself (its recurrence) after the second; each worker asks its partitions to apply
    # it every sweep interval.
    closed_case_retention_days: float = Field(90.0, gt=0)
    recurrence_window_days: float = Field(365.0, gt=0)
    state_sweep_interval_seconds: float = Field(3600.0, gt=0)
    # How often the open-case and open/overdue-referral gauges are recounted from the tables.
    metrics_refresh_interval_seconds: float = 15.0
    # Longest a batch may take before the worker gives up on it (and stops, uncommitted); the group's rebalance
    # timeout is twice this, so a rebalance never hands on partitions while a batch of this worker still runs.
    batch_deadline_seconds: float = 20.0
    # Where the worker keeps its tables (docs/dispatch.md): "rocksdb", one database per owned partition under
    # dispatch_state_dir/<group>/, read back from the changelogs only from their last checkpoint after a restart; or
    # "memory", every row in memory, read back from the start of the changelogs after every start. One directory per
    # worker: RocksDB locks each database against a second process.
    dispatch_state: Literal["rocksdb", "memory"] = "rocksdb"
    dispatch_state_dir: str = ".run/dispatch-state"

    def retention(self) -> Retention:
        return Retention(closed_files=timedelta(days=self.closed_case_retention_days),
                         recurrence_window=timedelta(days=self.recurrence_window_days))

    def deadline_policy(self) -> DeadlinePolicy:
        if self.extended_acceptance_working_days < self.acceptance_working_days:
            raise ValueError("LIANDONG_EXTENDED_ACCEPTANCE_WORKING_DAYS is the total after the extension; it cannot "
                             "be less than LIANDONG_ACCEPTANCE_WORKING_DAYS")
        return DeadlinePolicy(
            acceptance_working_days=self.acceptance_working_days,
            extended_acceptance_working_days=self.extended_acceptance_working_days,
            major_hours=self.major_hours, dispute_working_days=self.dispute_working_days,
            rework_working_days=self.rework_working_days,
        )
