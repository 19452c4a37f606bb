"""Info-share settings: broker, topics, the register database."""

from __future__ import annotations

from services.common.settings import KafkaSettings


class InfoShareSettings(KafkaSettings):
    database_url: str = "sqlite:///.run/register.db"
