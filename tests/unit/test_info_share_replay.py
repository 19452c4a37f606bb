"""The replay plan puts case events back in the order the feed recorded, whatever the partitions' interleaving."""

from __future__ import annotations

from services.info_share.adapters.replay import Positioned, plan
from tests.info_share_fixtures import Story, orphan_rejection


def positioned(stories: list[Story]) -> list[Positioned]:
    """Each story on its own partition (as case_id keys would spread them)."""
    return [Positioned(partition=s.n, offset=i, event=e)  # type: ignore[arg-type]
            for s in stories for i, e in enumerate(s.lifecycle()[:4])]


def test_events_follow_the_feed_sequence_across_partitions() -> None:
    events = positioned([Story(0), Story(1), Story(2)])
    # The live worker read partition 2 first, then alternated 0 and 1.
    live = [e for e in events if e.partition == 2]
    live += [e for pair in zip([e for e in events if e.partition == 0], [e for e in events if e.partition == 1],
                               strict=True) for e in pair]
    sequences = {p.event.event_id: i + 1 for i, p in enumerate(live)}
    result = plan(list(reversed(events)), sequences)
    assert [p.event.event_id for p in result.ordered] == [p.event.event_id for p in live]
    assert result.sequence_holes == [] and result.unsequenced == 0 and result.feed_only == 0


def test_events_without_feed_entries_keep_their_partition_order() -> None:
    events = positioned([Story(0), Story(1)])
    sequences = {p.event.event_id: i + 1 for i, p in enumerate(e for e in events if e.partition == 0)}
    orphan = Positioned(0, 99, orphan_rejection(1))
    result = plan([*events, orphan], sequences)
    assert result.unsequenced == 5
    assert [p.event.event_id for p in result.ordered[:4]] == [p.event.event_id for p in events if p.partition == 0]
    tail = [p for p in result.ordered[4:] if p.partition == 1]
    assert [p.offset for p in tail] == sorted(p.offset for p in tail)


def test_holes_and_duplicates_are_reported() -> None:
    events = positioned([Story(0)])
    duplicate = Positioned(0, 10, events[1].event)
    sequences = {events[0].event.event_id: 1, events[2].event.event_id: 3, "gone": 5}
    result = plan([*events, duplicate], sequences)
    assert result.sequence_holes == [2, 4] and result.feed_only == 1
    assert len(result.ordered) == 4  # the re-emitted copy is dropped
    # An event with no feed entry that sits before a sequenced one on its partition is applied before it.
    assert [p.offset for p in result.ordered] == [0, 1, 2, 3]
