"""The register's one command: apply a case event and say what the feed should carry (no Kafka here)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from schemas.events import FeedEntry
from services.info_share.feed import feed_entry
from services.info_share.register.projection import CaseEvent, apply_event
from services.reference.loader import ReferenceData


@dataclass(frozen=True)
class Result:
    outcome: str  # applied, duplicate, orphan
    entry: FeedEntry | None  # to publish; also for a duplicate (an earlier run may have died before publishing)


class Register:
    def __init__(self, sessions: sessionmaker[Session], reference: ReferenceData) -> None:
        self.sessions = sessions
        self.reference = reference

    def apply(self, event: CaseEvent) -> Result:
        """One transaction per event; ``projection.NotApplicable`` leaves the register untouched."""
        with self.sessions.begin() as session:
            applied = apply_event(session, event)
            entry = feed_entry(applied.row, self.reference) if applied.row is not None else None
        return Result(applied.outcome, entry)
