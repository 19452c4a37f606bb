"""Settings shared by every service, read from LIANDONG_* variables: the base each service's settings derive from,
the check every secret gets, the broker and the topic prefix."""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.delivery import EVERY_COUNTY, KafkaDelivery

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret"})
MIN_SECRET_LENGTH = 16


class LiandongSettings(BaseSettings):
    """One service's settings: LIANDONG_* variables, read once (frozen); the other services' variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="LIANDONG_", frozen=True, extra="ignore")


def real_secret(value: SecretStr, variable: str) -> SecretStr:
    """``value``, unless it is a placeholder or too short to be a key (then ValueError naming ``variable``)."""
    secret = value.get_secret_value()
    if secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"{variable} must be set to a real secret of at least {MIN_SECRET_LENGTH} characters")
    return value


class KafkaSettings(LiandongSettings):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "liandong"
    # Consumer group / Faust app id prefix; tests give each test its own.
    group_prefix: str = "liandong"
    worker_web_port: int = 6066
    worker_web_host: str = "127.0.0.1"  # 0.0.0.0 in containers, so Prometheus can scrape /metrics
    # A member silent this long is dropped from its consumer group and its partitions go to another worker.
    session_timeout_seconds: float = 30.0
    # The counties whose bodies are sent their referrals on Kafka topics of their own: "*", county codes separated
    # by commas, or empty for none (services/common/delivery.py).
    kafka_delivery_counties: str = EVERY_COUNTY

    @field_validator("kafka_delivery_counties")
    @classmethod
    def _delivery_counties(cls, value: str) -> str:
        KafkaDelivery.parse(value)  # refused at start with the code that is wrong, not at the first referral
        return value

    def kafka_delivery(self) -> KafkaDelivery:
        return KafkaDelivery.parse(self.kafka_delivery_counties)
