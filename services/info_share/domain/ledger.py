"""The hash chain of the ledger: each entry commits to its contents and to the entry before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def chain_hash(sequence: int, event_id: str, payload: Mapping[str, Any], prev_hash: str) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{sequence}\x1f{event_id}\x1f{prev_hash}\x1f{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    """One ledger row as stored."""

    sequence: int
    event_id: str
    event: str
    case_id: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold, and why."""

    sequence: int
    event_id: str | None
    reason: str

    def __str__(self) -> str:
        which = f"sequence {self.sequence}" + (f" (event {self.event_id})" if self.event_id else "")
        return f"first broken link at {which}: {self.reason}"


@dataclass(frozen=True)
class Verdict:
    checked: int
    head_hash: str  # publish it elsewhere: a chain cannot show, by itself, that its tail was cut off
    first_break: Break | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain(links: Iterable[Link]) -> Verdict:
    """Walk the ledger in sequence order and stop at the first link that does not hold."""
    previous_hash, expected, checked = GENESIS_HASH, 1, 0
    for link in links:
        problem = _check(link, expected, previous_hash)
        if problem is not None:
            return Verdict(checked, previous_hash, problem)
        previous_hash, expected, checked = link.hash, expected + 1, checked + 1
    return Verdict(checked, previous_hash, None)


def _check(link: Link, expected: int, previous_hash: str) -> Break | None:
    if link.sequence != expected:
        what = "missing (rows deleted?)" if link.sequence > expected else "repeated or out of order"
        return Break(expected, None, f"sequence {expected} is {what}; the next row is sequence {link.sequence}")
    if link.hash != chain_hash(link.sequence, link.event_id, link.payload, link.prev_hash):
        return Break(link.sequence, link.event_id, "the stored hash does not match the row's contents: row altered")
    if link.prev_hash != previous_hash:
        return Break(link.sequence, link.event_id,
                     f"prev_hash does not match the hash of sequence {expected - 1}: that row or this one was "
                     "altered and re-hashed")
    stated = {"event_id": link.event_id, "event": link.event, "case_id": link.case_id}
    for column, value in stated.items():
        if link.payload.get(column) != value:
            return Break(link.sequence, link.event_id, f"column {column} disagrees with the hashed payload")
    hashed_time = link.payload.get("occurred_at")
    if not isinstance(hashed_time, str) or datetime.fromisoformat(hashed_time) != link.occurred_at:
        return Break(link.sequence, link.event_id, "column occurred_at disagrees with the hashed payload")
    return None
