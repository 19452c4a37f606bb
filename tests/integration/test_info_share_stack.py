"""Through the real broker: the worker projects case events and publishes the feed; a replay rebuilds the same register.

Case events are published to case-events as dispatch would; the info-share worker and API run as processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import zip_longest

import httpx
import pytest
from kafka import KafkaProducer

from schemas.events import FeedEntry, WireModel
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.info_share.rebuild import main as rebuild_main
from services.info_share.rebuild import rebuild
from services.info_share.register.database import make_engine
from services.info_share.register.snapshot import first_difference, snapshot
from services.info_share.verify_ledger import verify
from tests.info_share_fixtures import (
    FAR_POINT,
    FAR_TOWNSHIP,
    T0,
    Story,
    leaks,
    orphan_rejection,
    publish,
    register_url,  # noqa: F401 - fixture
    second_register_url,  # noqa: F401 - fixture
)
from tests.stack_fixtures import StackFactory
from tests.topic_reader import read_events, read_records

pytestmark = pytest.mark.integration


def interleaved(stories: list[list[WireModel]]) -> Iterator[WireModel]:
    """Events of several cases mixed as they would arrive; each case's own order kept."""
    for group in zip_longest(*stories):
        yield from (event for event in group if event is not None)


def read_sse(url: str, count: int, into: list[int]) -> None:
    with httpx.stream("GET", url, timeout=httpx.Timeout(10, read=60)) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                into.append(int(line[4:]))
                if len(into) >= count:
                    return


def test_worker_feed_and_rebuild(make_stack: StackFactory, register_url: str,  # noqa: F811
                                 second_register_url: str) -> None:  # noqa: F811
    stack = make_stack(database_url=register_url)
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    topic = CASE_EVENTS.name(stack.topic_prefix)
    stories = [Story(n).lifecycle() for n in range(4)]
    stories += [Story(n, township=FAR_TOWNSHIP, lead="team:210624:water", point=FAR_POINT).lifecycle()[:3]
                for n in range(4, 8)]
    events = list(interleaved(stories))
    total = len(events)  # 52 ledger entries, spread over the topic's 6 partitions by case_id
    publish(stack.bootstrap_servers, topic, events[:20])

    stack.start_info_share_worker()
    stack.start_info_share_api()
    api = f"http://127.0.0.1:{stack.info_share_port}"
    streamed: list[int] = []
    stream = threading.Thread(target=read_sse, args=(f"{api}/v1/feed/stream", total, streamed))
    stream.start()

    # The rest arrives while the worker runs: with redeliveries, a rejection for an unknown case and a bad record.
    publish(stack.bootstrap_servers, topic, events[20:])
    publish(stack.bootstrap_servers, topic, [*events[:10], orphan_rejection(1)])
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap_servers)
    producer.send(topic, key=b"garbage", value=b"not a cloud event")
    producer.flush(10)
    producer.close()

    def summary() -> dict | None:
        answer = httpx.get(f"{api}/v1/stats/summary", timeout=5).json()
        return answer if answer["ledger_events"] >= total else None

    assert poll_until(summary, 90, 0.5, "every case event in the register")["ledger_events"] == total
    stream.join(60)
    assert streamed == list(range(1, total + 1)), "the live stream skipped or repeated an entry"

    # The Kafka feed: every ledger entry with its sequence (re-published ones repeat it), public summaries only.
    feed = [e for e in read_events(stack.bootstrap_servers, FEED.name(stack.topic_prefix), [FeedEntry])
            if isinstance(e, FeedEntry)]
    by_sequence = {e.sequence: e for e in feed}
    assert sorted(by_sequence) == list(range(1, total + 1))
    assert [leak for e in feed for leak in leaks(e.model_dump(mode="json"))] == []
    http_feed = [FeedEntry.model_validate(e) for e in httpx.get(f"{api}/v1/feed", params={"limit": 1000}).json()]
    assert http_feed == [by_sequence[s] for s in range(1, total + 1)], "the HTTP and Kafka feeds differ"

    dead = read_records(stack.bootstrap_servers, DEAD_LETTERS.name(stack.topic_prefix))
    assert [(key, headers["dlq_service"]) for key, _value, headers in dead] == [(b"garbage", b"info_share")]

    metrics = httpx.get(f"http://127.0.0.1:{stack.info_share_web_port}/metrics").text
    assert 'liandong_info_share_events_applied_total{event="case_opened",outcome="applied"} 8.0' in metrics
    assert 'liandong_info_share_events_applied_total{event="case_opened",outcome="duplicate"}' in metrics
    assert 'liandong_info_share_events_applied_total{event="response_rejected",outcome="orphan"} 1.0' in metrics
    assert "liandong_info_share_feed_lag_messages{partition=" in metrics

    # Drop nothing, replay everything into an empty database: the same register, row for row, hash for hash.
    live, rebuilt = make_engine(register_url), make_engine(second_register_url)
    report = rebuild(rebuilt, bootstrap_servers=stack.bootstrap_servers, topic_prefix=stack.topic_prefix)
    assert report.same_order and report.unsequenced == 0, report.lines()
    assert (report.applied, report.orphans, report.poison) == (total, 1, 1)
    assert first_difference(snapshot(live), snapshot(rebuilt)) is None
    assert verify(live).intact and verify(live).head_hash == verify(rebuilt).head_hash
    live.dispose()
    rebuilt.dispose()


def test_rebuild_command_refuses_a_filled_register_and_drops_on_request(
        make_stack: StackFactory, register_url: str, second_register_url: str,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stack = make_stack()
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    publish(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), Story(1, at=T0).lifecycle())
    monkeypatch.setenv("LIANDONG_BOOTSTRAP_SERVERS", stack.bootstrap_servers)
    monkeypatch.setenv("LIANDONG_TOPIC_PREFIX", stack.topic_prefix)
    # No feed entries (no worker ran): the order falls back to the topic's, and the register is still complete.
    assert rebuild_main(["--database-url", register_url]) == 0
    assert "applied 10 case events" in capsys.readouterr().out
    assert rebuild_main(["--database-url", register_url]) == 2
    assert "not empty" in capsys.readouterr().out
    assert rebuild_main(["--database-url", register_url, "--drop"]) == 0
    assert rebuild_main(["--database-url", second_register_url, "--compare-with", register_url]) == 0
    assert "identical to the live register" in capsys.readouterr().out
