"""Settings shared by every service: the broker, the topic prefix, the database. Read from LIANDONG_* variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIANDONG_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "liandong"
    # Consumer group / Faust app id prefix; tests give each test its own.
    group_prefix: str = "liandong"
    worker_web_port: int = 6066
    worker_web_host: str = "127.0.0.1"  # 0.0.0.0 in containers, so Prometheus can scrape /metrics
    # A member silent this long is dropped from its consumer group and its partitions go to another worker.
    session_timeout_seconds: float = 30.0
