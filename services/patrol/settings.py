"""Patrol service settings: broker, token checks, API keys, limits, stores. Secrets have no defaults."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import KafkaSettings

PLACEHOLDERS = {"", "changeme", "secret", "change-me"}
DEFAULT_CASE_VIEW_URL = "sqlite:///.run/patrol-cases.db"


class CaseViewSettings(KafkaSettings):
    """The read-model worker's: the broker, its consumer group, and the database it keeps."""

    case_view_url: str = DEFAULT_CASE_VIEW_URL


class PatrolSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIANDONG_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "liandong"
    jwt_secret: SecretStr = Field(description="HS256 key shared with the identity provider; no default")
    jwt_issuer: str = "liandong-idp"
    jwt_audience: str = "liandong-patrol"
    # "key=principal:township1,township2;key2=principal2:*" — per-system or per-device API keys (hotline, video
    # platform); "*" means every township. Keys shorter than 16 characters are refused at start.
    api_keys: SecretStr = SecretStr("")
    # "210603008:210603009,210603010;..." — officers serving the first township may also file for the others.
    adjoining_townships: str = ""
    # How long the broker may take to acknowledge before the caller gets 503 + Retry-After.
    publish_timeout_seconds: float = 5.0
    # How long connecting to the broker (producer start, findings topic lookup) may take on a busy host.
    connect_timeout_seconds: float = 15.0
    # How long the producer waits for more findings to send with one (acks=all) produce request.
    publish_linger_ms: int = Field(default=2, ge=0)
    retry_after_seconds: int = 5
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed; none by default.
    trusted_proxies: str = ""
    # All request header lines together, in bytes: more is refused with 431.
    max_header_bytes: int = Field(default=16_384, ge=1_024)
    max_future_skew_seconds: float = 300.0
    max_age_days: float = 30.0
    max_body_bytes: int = 1_000_000
    max_batch_body_bytes: int = 8_000_000
    max_batch_items: int = 500
    # Token bucket per caller (principal, or client address when anonymous): sustained rate and burst size.
    rate_limit_per_minute: float = 600.0
    rate_limit_burst: int = 120
    # Brute-force guard per client address: failed authentications (bad token or key) allowed at once, refilled at
    # the rate below; while an address has none left, every request of it carrying a credential gets 429.
    auth_failure_burst: int = 20
    auth_failures_per_minute: float = 10.0
    # Worker processes behind the port (python -m services.patrol); more than one shares the store, the rate limits
    # and the metrics between them (services/patrol/entrypoints/workers.py).
    patrol_workers: int = Field(default=1, ge=1)
    # Where the rate-limit buckets live when several processes must share them (set by the parent for its workers;
    # set it to share them between instances on one host). Empty: in this process's memory.
    rate_limit_state_dir: str = ""
    # Patrol's own read model of the case events (status lookups, Open311 GET), written by
    # `python -m services.patrol.entrypoints.case_views`; the API only reads it.
    case_view_url: str = DEFAULT_CASE_VIEW_URL
    # Patrol's own idempotency records (client key -> fingerprint and answer); PostgreSQL when several instances run.
    patrol_store_url: str = "sqlite:///.run/patrol.db"
    # Audit log as JSON lines: appended to this file when set, else written to standard error.
    audit_log_path: str = ""

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in PLACEHOLDERS or len(value.get_secret_value()) < 16:
            raise ValueError("LIANDONG_JWT_SECRET must be set to a real secret of at least 16 characters")
        return value
