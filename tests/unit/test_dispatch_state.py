"""Dispatch's partitioned tables: writes follow the input partition into the changelog, and read back the same."""

from __future__ import annotations

import pytest

from services.dispatch.adapters.state import NoPartition, StateStore


def store() -> StateStore:
    return StateStore({"cases": "g-dispatch-cases-changelog", "members": "g-dispatch-members-changelog"})


def test_a_write_is_queued_for_the_changelog_partition_of_the_event_being_processed() -> None:
    state = store()
    with state.processing(7):
        state.tables["cases"]["c1"] = {"lat": 40.1}
        state.tables["members"]["f1"] = {"case": "c1"}
        state.tables["members"].pop("f1")
    records = state.take_pending()
    assert [(r.topic, r.partition, r.key, r.value) for r in records] == [
        ("g-dispatch-cases-changelog", 7, b'"c1"', b'{"lat":40.1}'),
        ("g-dispatch-members-changelog", 7, b'"f1"', b'{"case":"c1"}'),
        ("g-dispatch-members-changelog", 7, b'"f1"', None),  # a deletion is a tombstone
    ]
    assert state.take_pending() == []
    assert dict(state.tables["cases"]) == {"c1": {"lat": 40.1}}
    assert "f1" not in state.tables["members"]


def test_a_write_outside_an_event_is_refused_rather_than_left_without_a_partition() -> None:
    state = store()
    with pytest.raises(NoPartition):
        state.tables["cases"]["c1"] = {}
    assert len(state.tables["cases"]) == 0


def test_restoring_the_changelog_gives_the_same_rows_and_dropping_a_partition_forgets_only_its_rows() -> None:
    written = store()
    with written.processing(1):
        written.tables["cases"]["a"] = {"n": 1}
        written.tables["cases"]["gone"] = {"n": 0}
        del written.tables["cases"]["gone"]
    with written.processing(2):
        written.tables["cases"]["b"] = {"n": 2}
    restored = store()
    for record in written.take_pending():
        restored.table_of_topic(record.topic).load(record.partition, record.key, record.value)
    assert dict(restored.tables["cases"]) == dict(written.tables["cases"]) == {"a": {"n": 1}, "b": {"n": 2}}
    assert restored.take_pending() == []  # reading back writes nothing

    restored.drop({1})
    assert dict(restored.tables["cases"]) == {"b": {"n": 2}}


def test_an_encoded_table_reads_and_restores_the_same_rows_as_a_plain_one() -> None:
    topics = {"cases": "g-dispatch-cases-changelog", "members": "g-dispatch-members-changelog"}
    plain, encoded = store(), StateStore(topics, encoded=frozenset({"cases"}))
    for state in (plain, encoded):
        with state.processing(3):
            state.tables["cases"]["c1"] = {"lat": 40.1, "subjects": [["uscc", "X"]]}
            state.tables["cases"]["c2"] = {"lat": 40.2}
            del state.tables["cases"]["c2"]
    assert encoded.tables["cases"].encoded and not plain.tables["cases"].encoded
    assert dict(encoded.tables["cases"]) == dict(plain.tables["cases"]) == {"c1": {"lat": 40.1,
                                                                                   "subjects": [["uscc", "X"]]}}
    assert encoded.take_pending() == plain.take_pending()
    restored = StateStore({"cases": "g-dispatch-cases-changelog"}, encoded=frozenset({"cases"}))
    with encoded.processing(3):
        encoded.tables["cases"]["c3"] = {"lat": 1.0}
    for record in encoded.take_pending():
        restored.table_of_topic(record.topic).load(record.partition, record.key, record.value)
    assert restored.tables["cases"]["c3"] == {"lat": 1.0}
