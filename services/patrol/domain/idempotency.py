"""Idempotency keys: what a repeated client key means, decided from the stored record and the new content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class StoreUnavailable(Exception):
    """The idempotency records cannot be read or written: nothing may be accepted without them."""


class KeyState(StrEnum):
    # Claimed before publishing; stays claimed when the broker may have the record but did not confirm it.
    PENDING = "pending"
    ACCEPTED = "accepted"  # the broker acknowledged: the answer is final


@dataclass(frozen=True)
class KeyRecord:
    """What the store keeps per (topic incarnation, reporter, client key): no description, no personal data."""

    scope: str  # id of the findings topic incarnation the record was published to
    reporter: str
    client_report_id: str
    fingerprint: str
    finding_id: str
    township_code: str
    category_code: str
    latitude: float
    longitude: float
    state: KeyState
    claimed_at: datetime
    partition: int | None = None
    offset: int | None = None


class Verdict(StrEnum):
    PUBLISH = "publish"  # first use of the key, or a retry of an unconfirmed attempt with the same content
    REPLAY = "replay"  # already accepted with the same content: answer as before, publish nothing
    CONFLICT = "conflict"  # the key was used for different content: refuse (409)


def decide(existing: KeyRecord | None, fingerprint: str) -> Verdict:
    """Same key and content → same answer; same key, other content → conflict, even if not yet confirmed,
    since an unconfirmed attempt may still be on the topic and would carry the same finding id."""
    if existing is None:
        return Verdict.PUBLISH
    if existing.fingerprint != fingerprint:
        return Verdict.CONFLICT
    return Verdict.REPLAY if existing.state is KeyState.ACCEPTED else Verdict.PUBLISH


def fingerprint(content: Any) -> str:
    """SHA-256 of the canonical JSON of what the client sent (after parsing, before defaults that vary in time)."""
    return hashlib.sha256(_CANONICAL.encode(content).encode()).hexdigest()


# json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str), with the encoder built
# once: json.dumps builds one per call when given any option.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
