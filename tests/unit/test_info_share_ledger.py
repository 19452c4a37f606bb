"""The ledger's hash chain: intact chains verify; one altered, re-hashed, deleted or re-labelled row is named."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from services.info_share.domain.ledger import (
    GENESIS_HASH,
    ChainLink,
    Head,
    Link,
    chain_hash,
    check_copy,
    verify_chain,
)

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


def links_of(links: list[Link]) -> list[ChainLink]:
    return [ChainLink(link.sequence, link.prev_hash, link.hash) for link in links]


def head_of(links: list[ChainLink]) -> Head:
    return Head(links[-1].sequence, links[-1].hash)


def test_a_copy_agrees_with_the_ledger_it_was_taken_from_filtered_or_redelivered() -> None:
    served = links_of(chain(8))
    assert check_copy(served, served, head_of(served)).agrees
    township = [served[1], served[4], served[5]]  # a filtered feed: gaps
    assert check_copy(township, served[1:], head_of(served)).agrees
    redelivered = [served[2], served[3], served[2]]  # the same record read twice from the topic
    verdict = check_copy(redelivered, served[2:], head_of(served))
    assert verdict.agrees and verdict.entries == 2


def test_a_ledger_rewritten_and_re_hashed_disagrees_with_the_copy_at_the_first_changed_entry() -> None:
    kept = links_of(chain(6))
    rewritten = chain(6)
    rewritten[3] = dataclasses.replace(rewritten[3], payload={**rewritten[3].payload, "note": "x"})
    previous = rewritten[2].hash
    for i in range(3, 6):  # re-hashed into a consistent chain: verify_chain cannot tell
        link = dataclasses.replace(rewritten[i], prev_hash=previous)
        rewritten[i] = previous_link = dataclasses.replace(
            link, hash=chain_hash(link.sequence, link.event_id, link.payload, link.prev_hash))
        previous = previous_link.hash
    assert verify_chain(rewritten).intact
    served = links_of(rewritten)
    verdict = check_copy(kept, served, head_of(served))
    assert not verdict.agrees and verdict.problem is not None and "sequence 4 differs" in verdict.problem


def test_entries_cut_off_the_end_or_missing_from_the_served_chain_are_named() -> None:
    served = links_of(chain(6))
    cut = check_copy(served, served[:4], head_of(served[:4]))
    assert cut.problem == ("the ledger's head is sequence 4, but the copy holds entries up to 6: entries were cut "
                           "off its end")
    without_third = [*served[:2], *served[3:]]
    gap = check_copy(served, without_third, head_of(served))
    assert gap.problem == "the served chain breaks at sequence 4"
    stale_head = check_copy(served[:3], served, Head(6, "f" * 64))
    assert stale_head.problem == "the served chain does not end at the published head (sequence 6)"


def test_a_copy_that_contradicts_itself_is_refused_before_asking_the_ledger() -> None:
    served = links_of(chain(4))
    forged = dataclasses.replace(served[2], prev_hash="e" * 64)
    assert check_copy([served[1], forged], served, head_of(served)).problem == (
        "the copy itself does not chain at sequence 3")
    twice = dataclasses.replace(served[2], hash="d" * 64)
    assert check_copy([served[2], twice], served, head_of(served)).problem == (
        "the copy holds two different entries at sequence 3")
    assert check_copy([], served, head_of(served)).problem == "the copy holds no entries"
