"""The hash chain of the ledger: each entry commits to its contents and to the entry before it."""

from __future__ import annotations

import hashlib
import itertools
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


@dataclass(frozen=True)
class ChainLink:
    """One entry of the chain as a copy of the feed or the ledger's links carry it: no content."""

    sequence: int
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Head:
    """The last entry of the ledger as published: its sequence (0 when empty) and chain hash."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class CopyVerdict:
    """How a kept copy of the feed compares with the ledger as served now."""

    entries: int
    head: Head
    problem: str | None

    @property
    def agrees(self) -> bool:
        return self.problem is None


def check_copy(copy: Iterable[ChainLink], served: Iterable[ChainLink], head: Head) -> CopyVerdict:
    """Does the ledger served now still hold every entry of ``copy`` unchanged, and lead from them to ``head``?

    ``copy`` may be filtered (a township's feed) or hold a redelivered entry twice; ``served`` is the chain's links
    from the copy's first sequence on, as the ledger answers them; ``head`` is the head it published. A copy that
    outlives the ledger (entries cut off its end) or disagrees with it (entries rewritten, even re-hashed into a
    consistent chain) is named at its first such entry. The copy's texts are not hashed (they are masked per
    audience): what the check holds is that the ledger behind them has not changed.
    """
    kept: dict[int, ChainLink] = {}
    for link in copy:
        seen = kept.setdefault(link.sequence, link)
        if seen != link:
            return CopyVerdict(len(kept), head, f"the copy holds two different entries at sequence {link.sequence}")
    ordered = sorted(kept.values(), key=lambda link: link.sequence)
    for before, after in itertools.pairwise(ordered):
        if after.sequence == before.sequence + 1 and after.prev_hash != before.hash:
            return CopyVerdict(len(kept), head, f"the copy itself does not chain at sequence {after.sequence}")
    if not ordered:
        return CopyVerdict(0, head, "the copy holds no entries")
    if head.sequence < ordered[-1].sequence:
        return CopyVerdict(len(kept), head, f"the ledger's head is sequence {head.sequence}, but the copy holds "
                                            f"entries up to {ordered[-1].sequence}: entries were cut off its end")
    return _against_served(ordered, served, head)


def _against_served(ordered: list[ChainLink], served: Iterable[ChainLink], head: Head) -> CopyVerdict:
    pending = iter(ordered)
    wanted = next(pending, None)
    previous: ChainLink | None = None
    for link in served:
        if link.sequence > head.sequence:
            break
        if previous is not None and (link.sequence != previous.sequence + 1 or link.prev_hash != previous.hash):
            return CopyVerdict(len(ordered), head, f"the served chain breaks at sequence {link.sequence}")
        if wanted is not None and link.sequence > wanted.sequence:
            return CopyVerdict(len(ordered), head, f"the ledger no longer holds sequence {wanted.sequence}")
        if wanted is not None and link.sequence == wanted.sequence:
            if link != wanted:
                return CopyVerdict(len(ordered), head, f"sequence {wanted.sequence} differs from the copy: the "
                                                       f"ledger was rewritten from there (copy {wanted.hash[:12]}…, "
                                                       f"ledger {link.hash[:12]}…)")
            wanted = next(pending, None)
        previous = link
    if wanted is not None:
        return CopyVerdict(len(ordered), head, f"the ledger no longer holds sequence {wanted.sequence}")
    if previous is None or (previous.sequence, previous.hash) != (head.sequence, head.hash):
        return CopyVerdict(len(ordered), head, f"the served chain does not end at the published head "
                                               f"(sequence {head.sequence})")
    return CopyVerdict(len(ordered), head, None)
