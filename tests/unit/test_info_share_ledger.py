"""The ledger's hash chain: intact chains verify; one altered, re-hashed, deleted or re-labelled row is named."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from services.info_share.domain.ledger import GENESIS_HASH, Link, chain_hash, verify_chain

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def chain(n: int) -> list[Link]:
    links, previous = [], GENESIS_HASH
    for sequence in range(1, n + 1):
        at = T0 + timedelta(minutes=sequence)
        payload = {"event_id": f"e{sequence}", "event": "case_opened", "case_id": f"c{sequence % 3}",
                   "occurred_at": at.isoformat(), "finding": {"description": f"第{sequence}条"}}
        digest = chain_hash(sequence, f"e{sequence}", payload, previous)
        links.append(Link(sequence, f"e{sequence}", "case_opened", f"c{sequence % 3}", at, payload, previous, digest))
        previous = digest
    return links


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    links = chain(5)
    verdict = verify_chain(links)
    assert verdict.intact and verdict.checked == 5 and verdict.head_hash == links[-1].hash
    assert verify_chain([]).intact


def test_an_altered_payload_is_named_at_its_row() -> None:
    links = chain(5)
    altered = {**links[2].payload, "finding": {"description": "改过"}}
    links[2] = dataclasses.replace(links[2], payload=altered)
    verdict = verify_chain(links)
    assert verdict.first_break is not None and verdict.first_break.sequence == 3
    assert verdict.first_break.event_id == "e3" and "altered" in verdict.first_break.reason
    assert verdict.checked == 2


def test_an_altered_and_rehashed_row_breaks_the_next_link() -> None:
    links = chain(5)
    altered = {**links[1].payload, "finding": {"description": "改过"}}
    links[1] = dataclasses.replace(links[1], payload=altered,
                                   hash=chain_hash(2, "e2", altered, links[1].prev_hash))
    verdict = verify_chain(links)
    assert verdict.first_break is not None and verdict.first_break.sequence == 3
    assert "prev_hash" in verdict.first_break.reason


def test_a_deleted_row_is_a_missing_sequence() -> None:
    links = chain(5)
    del links[3]
    verdict = verify_chain(links)
    assert verdict.first_break is not None and verdict.first_break.sequence == 4
    assert "missing" in verdict.first_break.reason


def test_a_column_that_disagrees_with_the_hashed_payload_is_caught() -> None:
    links = chain(3)
    links[1] = dataclasses.replace(links[1], case_id="someone-else")
    assert "case_id" in str(verify_chain(links).first_break)
    links = chain(3)
    links[2] = dataclasses.replace(links[2], occurred_at=links[2].occurred_at + timedelta(days=1))
    assert "occurred_at" in str(verify_chain(links).first_break)


def test_the_hash_is_stable_for_equal_payloads_in_any_key_order() -> None:
    one = chain_hash(1, "e", {"a": 1, "b": "乙"}, GENESIS_HASH)
    assert one == chain_hash(1, "e", {"b": "乙", "a": 1}, GENESIS_HASH)
