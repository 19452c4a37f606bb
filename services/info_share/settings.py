"""Info-share settings: broker, topics and register database (worker, tools); plus token checks for the API."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from services.common.settings import KafkaSettings, real_secret


class InfoShareSettings(KafkaSettings):
    database_url: str = "sqlite:///.run/register.db"


class InfoShareApiSettings(InfoShareSettings):
    jwt_secret: SecretStr = Field(description="HS256 key shared with the identity provider; no default")
    jwt_issuer: str = "liandong-idp"
    # Its own audience: a token minted for the patrol service alone is not accepted here (a token may name both).
    jwt_audience: str = "liandong-info-share"
    # How often a live stream (SSE) looks for new ledger entries; each look is one indexed query.
    feed_poll_seconds: float = Field(0.5, gt=0)
    # Radius cap for "open cases near a point": a patrol officer asks about the street, not the county.
    nearby_max_radius_m: float = 5_000.0
    # Brute-force guard per client address (as patrol's): failed authentications allowed at once, refilled at the
    # rate below; while an address has none left, every request of it carrying a token gets 429.
    auth_failure_burst: int = 20
    auth_failures_per_minute: float = 10.0
    # Lifecycle actions: how long the broker may take to acknowledge one (then 503), and how long an action's request
    # waits for dispatch's verdict in the register before it is answered 202 with a status URL instead.
    action_publish_timeout_seconds: float = Field(10.0, gt=0)
    action_wait_seconds: float = Field(10.0, ge=0)
    # Open311 servicerequestupdates: "key=system-name:body_id;…" — each external work-order system reports progress
    # for the one receiving body its key names (docs/lifecycle.md). Empty: the route refuses every key.
    work_order_api_keys: SecretStr = SecretStr("")
    # Audit log of refused requests (JSON lines): appended to this file when set, else written to standard error.
    info_share_audit_log_path: str = ""
    # Reads per caller (its token's subject, else its client address): bursts of read_burst requests, refilled at
    # reads_per_minute; and at most streams_per_caller live feed streams open at once (a stream polls the register
    # every feed_poll_seconds for as long as it is open: unbounded, streams starve the queries).
    reads_per_minute: float = Field(default=1_200.0, gt=0)
    read_burst: int = Field(default=300, ge=1)
    streams_per_caller: int = Field(default=4, ge=1)
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed; none by default.
    trusted_proxies: str = ""
    # All request header lines together, in bytes: more is refused with 431.
    max_header_bytes: int = Field(default=16_384, ge=1_024)

    @field_validator("jwt_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        return real_secret(value, "LIANDONG_JWT_SECRET")
