"""Patrol service settings: broker, token checks, API keys. Secrets have no defaults."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {"", "changeme", "secret", "change-me"}


class PatrolSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIANDONG_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "liandong"
    jwt_secret: SecretStr = Field(description="HS256 key shared with the identity provider; no default")
    jwt_issuer: str = "liandong-idp"
    jwt_audience: str = "liandong-patrol"
    # "key=principal:township1,township2;key2=..." — per-system API keys (hotline, video platform) for Open311.
    api_keys: SecretStr = SecretStr("")
    # How long the broker may take to acknowledge before the caller gets 503 + Retry-After.
    publish_timeout_seconds: float = 5.0
    max_future_skew_seconds: float = 300.0
    max_age_days: float = 30.0
    max_body_bytes: int = 1_000_000

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in PLACEHOLDERS or len(value.get_secret_value()) < 16:
            raise ValueError("LIANDONG_JWT_SECRET must be set to a real secret of at least 16 characters")
        return value
