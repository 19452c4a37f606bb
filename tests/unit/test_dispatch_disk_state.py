"""Dispatch's tables on disk (RocksDB): a batch's writes stay in an overlay until its changelog records are
acknowledged, then reach the disk with the changelog offsets in one write; a reopened store has both back."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.events import CaseOpened, FindingMerged, FindingReported
from services.dispatch.adapters.disk_state import DiskStateStore
from services.dispatch.adapters.state import NoPartition, StateStore, restore_plan
from services.dispatch.domain import dedup
from services.dispatch.service import CASE_FILES_TABLE, OVERDUE_TABLE, REFERRALS_TABLE, Dispatcher
from tests.dispatch_fixtures import REFERENCE, expected_cases, sample_findings

TOPICS = {"cases": "g-dispatch-cases-changelog", "members": "g-dispatch-members-changelog"}
CASES, MEMBERS = TOPICS["cases"], TOPICS["members"]


def store(directory: Path, partitions: frozenset[int] = frozenset({1, 2})) -> DiskStateStore:
    state = DiskStateStore(TOPICS, directory)
    state.own(partitions)
    return state


def test_writes_are_queued_like_the_memory_stores_and_read_back_from_the_overlay(tmp_path: Path) -> None:
    state, memory = store(tmp_path), StateStore(TOPICS)
    for each in (state, memory):
        with each.processing(1):
            each.tables["cases"]["c1"] = {"lat": 40.1}
            each.tables["members"]["f1"] = {"case": "c1"}
            each.tables["members"].pop("f1")
    assert state.take_pending() == memory.take_pending()
    assert dict(state.tables["cases"]) == {"c1": {"lat": 40.1}}
    assert "f1" not in state.tables["members"]
    assert state.tables["cases"].partition_of("c1") == 1
    with pytest.raises(NoPartition):
        state.tables["cases"]["c2"] = {}


def test_nothing_reaches_the_disk_before_the_checkpoint_and_rows_and_offsets_arrive_together(tmp_path: Path) -> None:
    state = store(tmp_path)
    with state.processing(1):
        state.tables["cases"]["c1"] = {"n": 1}
    with state.processing(2):
        state.tables["cases"]["c2"] = {"n": 2}
    state.take_pending()
    with state.processing(1):  # the next batch, decided while the first awaits its acks
        state.tables["cases"]["c1"] = {"n": 10}
        state.tables["cases"]["c3"] = {"n": 3}
    state.take_pending()
    assert state.tables["cases"]["c1"] == {"n": 10}  # the newest overlay wins
    state.close()

    reopened = store(tmp_path)  # a crash before any checkpoint: the disk has nothing, the changelog everything
    assert dict(reopened.tables["cases"]) == {}
    assert reopened.position(CASES, 1) == 0
    with reopened.processing(1):
        reopened.tables["cases"]["c1"] = {"n": 1}
    with reopened.processing(2):
        reopened.tables["cases"]["c2"] = {"n": 2}
    reopened.take_pending()
    with reopened.processing(1):
        reopened.tables["cases"]["c1"] = {"n": 10}
    with reopened.processing(2):
        del reopened.tables["cases"]["c2"]
    reopened.take_pending()
    reopened.checkpoint({(CASES, 1): 1, (CASES, 2): 1})  # the first batch only
    assert reopened.tables["cases"]["c1"] == {"n": 10}  # the second batch's overlay is still read first
    assert "c2" not in reopened.tables["cases"]
    reopened.close()

    after = store(tmp_path)
    assert dict(after.tables["cases"]) == {"c1": {"n": 1}, "c2": {"n": 2}}
    assert (after.position(CASES, 1), after.position(CASES, 2), after.position(MEMBERS, 1)) == (1, 1, 0)
    assert after.tables["cases"].partition_of("c2") == 2


def test_the_second_checkpoint_writes_the_second_batch_and_a_tombstone_deletes_on_disk(tmp_path: Path) -> None:
    state = store(tmp_path)
    with state.processing(1):
        state.tables["cases"]["a"] = {"n": 1}
        state.tables["cases"]["b"] = {"n": 2}
    state.take_pending()
    state.checkpoint({(CASES, 1): 2})
    with state.processing(1):
        del state.tables["cases"]["a"]
        state.tables["members"]["m"] = {"case": "b"}
    state.take_pending()
    assert set(state.tables["cases"]) == {"b"} and len(state.tables["cases"]) == 1
    state.checkpoint({(CASES, 1): 3, (MEMBERS, 1): 1})
    state.close()
    after = store(tmp_path)
    assert dict(after.tables["cases"]) == {"b": {"n": 2}}
    assert dict(after.tables["members"].items()) == {"m": {"case": "b"}}
    assert (after.position(CASES, 1), after.position(MEMBERS, 1)) == (3, 1)


def test_discarding_unwritten_batches_leaves_the_disk_as_it_was(tmp_path: Path) -> None:
    state = store(tmp_path)
    with state.processing(1):
        state.tables["cases"]["a"] = {"n": 1}
    state.take_pending()
    state.checkpoint({(CASES, 1): 1})
    with state.processing(1):
        state.tables["cases"]["a"] = {"n": 2}
    state.take_pending()
    state.discard_unwritten()
    assert state.tables["cases"]["a"] == {"n": 1}
    assert state.take_pending() == []


def test_a_restore_loads_records_with_their_end_offset_and_a_closed_partition_keeps_its_files(tmp_path: Path) -> None:
    state = store(tmp_path)
    state.load(CASES, 2, [(b'"x"', b'{"n":1}'), (b'"y"', b'{"n":2}'), (b'"x"', None)], 3)
    assert dict(state.tables["cases"]) == {"y": {"n": 2}}
    assert state.position(CASES, 2) == 3
    state.own({1})  # partition 2 lost: closed, no longer read
    assert dict(state.tables["cases"]) == {}
    assert (tmp_path / "partition-2").is_dir()
    state.own({1, 2})  # and back: read from disk again
    assert dict(state.tables["cases"]) == {"y": {"n": 2}} and state.position(CASES, 2) == 3


def test_reset_wipes_one_partition_only(tmp_path: Path) -> None:
    state = store(tmp_path)
    state.load(CASES, 1, [(b'"a"', b"1")], 1)
    state.load(CASES, 2, [(b'"b"', b"2")], 1)
    state.reset(2)
    assert dict(state.tables["cases"]) == {"a": 1}
    assert (state.position(CASES, 1), state.position(CASES, 2)) == (1, 0)
    state.close()
    assert dict(store(tmp_path).tables["cases"]) == {"a": 1}


def test_a_second_store_cannot_open_a_partition_another_holds(tmp_path: Path) -> None:
    store(tmp_path, frozenset({1}))
    with pytest.raises(Exception, match="lock"):
        store(tmp_path, frozenset({1}))


def test_the_dispatcher_decides_the_same_on_disk_tables_through_checkpoints_and_a_reopen(tmp_path: Path) -> None:
    names = (dedup.CASES_TABLE, dedup.MEMBERS_TABLE, CASE_FILES_TABLE, REFERRALS_TABLE, OVERDUE_TABLE)
    topics = {name: f"g-{name}-changelog" for name in names}
    findings = sample_findings(days=1)
    half = len(findings) // 2
    cases: dict[str, str] = {}
    ends: dict[tuple[str, int], int] = {}  # what the changelogs' end offsets would be

    def batch_acknowledged(state: DiskStateStore) -> None:
        for record in state.take_pending():
            where = (record.topic, record.partition)
            ends[where] = ends.get(where, 0) + 1
        state.checkpoint(dict(ends))

    def run(part: list[tuple[str, FindingReported]]) -> None:
        state = DiskStateStore(topics, tmp_path)
        state.own({0})
        dispatcher = Dispatcher(REFERENCE, state.tables)  # type: ignore[arg-type]
        dispatcher.rebuild_index()
        for n, (key, finding) in enumerate(part):
            with state.processing(0):
                for out in dispatcher.on_finding(finding, key):
                    if isinstance(out.model, CaseOpened | FindingMerged):
                        cases[finding.finding_id] = out.model.case_id
            if n % 7 == 0:
                batch_acknowledged(state)
        batch_acknowledged(state)
        assert all(state.position(topic, 0) == end for (topic, _p), end in ends.items())
        state.close()

    run(findings[:half])
    run(findings[half:])  # a restart: the index is rebuilt from the disk
    assert cases == expected_cases(findings)


def test_a_restore_reads_on_from_the_stored_offsets_and_wipes_a_partition_the_changelog_cannot_continue() -> None:
    starts = {(CASES, 1): 0, (MEMBERS, 1): 0, (CASES, 2): 0, (MEMBERS, 2): 0, (CASES, 3): 40, (MEMBERS, 3): 0}
    ends = {(CASES, 1): 100, (MEMBERS, 1): 50, (CASES, 2): 10, (MEMBERS, 2): 20, (CASES, 3): 90, (MEMBERS, 3): 5}
    positions = {(CASES, 1): 100, (MEMBERS, 1): 45,  # caught up from 45
                 (CASES, 2): 12, (MEMBERS, 2): 20,  # 12 is past the end (recreated): partition 2 from the start
                 (CASES, 3): 30, (MEMBERS, 3): 5}  # 30 is before the start (truncated): partition 3 too
    reads, wiped = restore_plan(positions, starts, ends, resumable=True)
    assert wiped == {2, 3}
    assert reads == {(MEMBERS, 1): 45, (CASES, 2): 0, (MEMBERS, 2): 0, (CASES, 3): 40, (MEMBERS, 3): 0}

    # A new partition (no database): everything from the start, nothing to wipe.
    assert restore_plan({}, {(CASES, 4): 0}, {(CASES, 4): 7}, resumable=True) == ({(CASES, 4): 0}, set())
    # The in-memory store cannot catch up: a moved changelog means the partition again from the start.
    assert restore_plan(positions, starts, ends, resumable=False)[1] == {1, 2, 3}
    assert restore_plan(positions, starts, ends, resumable=False)[0][(CASES, 1)] == 0
