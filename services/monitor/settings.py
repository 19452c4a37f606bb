"""Lag-exporter settings: where to serve, how often to poll, which groups and topics to watch (LIANDONG_*)."""

from __future__ import annotations

import re

from services.common.settings import KafkaSettings


class MonitorSettings(KafkaSettings):
    lag_exporter_host: str = "127.0.0.1"
    # kafka_exporter's customary port, so existing scrape habits carry over.
    lag_exporter_port: int = 9308
    lag_poll_interval_seconds: float = 5.0
    # Empty: the groups of this deployment, "<group_prefix>-…"; and its topics, "<topic_prefix>.…".
    lag_group_regex: str = ""
    lag_topic_regex: str = ""
    # Assigned partitions a group never committed count from the log start (the services reset to earliest),
    # except these topics: dispatch reads its table changelogs back outside any group, so they have no commit.
    lag_uncommitted_skip_regex: str = r"-changelog$"

    def group_pattern(self) -> re.Pattern[str]:
        return re.compile(self.lag_group_regex or f"^{re.escape(self.group_prefix)}-")

    def topic_pattern(self) -> re.Pattern[str]:
        return re.compile(self.lag_topic_regex or f"^{re.escape(self.topic_prefix)}\\.")

    def uncommitted_skip_pattern(self) -> re.Pattern[str]:
        return re.compile(self.lag_uncommitted_skip_regex)
