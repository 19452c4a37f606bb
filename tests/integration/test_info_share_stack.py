"""Through the real broker: the worker projects case events and publishes the feed; a replay rebuilds the same register.

Case events are published to case-events as dispatch would; the info-share worker and API run as processes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from schemas.events import FeedEntry, WireModel
from services.common.kafka_admin import ensure_topics
from services.common.polling import poll_until
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.info_share.adapters.register.database import make_engine
from services.info_share.adapters.register.snapshot import first_difference, snapshot
from services.info_share.adapters.register.tables import LedgerRow
from services.info_share.domain.ledger import chain_hash
from services.info_share.entrypoints.cli_rebuild import main as rebuild_main
from services.info_share.entrypoints.cli_rebuild import rebuild
from services.info_share.entrypoints.cli_verify_feed import main as verify_feed_main
from services.info_share.entrypoints.cli_verify_ledger import verify
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


def test_a_kept_copy_of_the_feed_is_checked_against_the_published_head(
        make_stack: StackFactory, register_url: str, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """A consumer keeps the Kafka feed topic, or a township's filtered HTTP feed, and checks it against
    ``/v1/ledger/head``: it agrees while the ledger is untouched, and names the entry where it was cut off or
    rewritten — a rewrite re-hashed into a consistent chain included, which verify_ledger alone cannot see."""
    stack = make_stack(database_url=register_url)
    ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
    stories = [Story(n).lifecycle() for n in range(2)]
    stories += [Story(n, township=FAR_TOWNSHIP, lead="team:210624:water", point=FAR_POINT).lifecycle()[:3]
                for n in range(2, 4)]
    events = list(interleaved(stories))
    total = len(events)
    publish(stack.bootstrap_servers, CASE_EVENTS.name(stack.topic_prefix), events)
    stack.start_info_share_worker()
    stack.start_info_share_api()
    api = f"http://127.0.0.1:{stack.info_share_port}"
    poll_until(lambda: httpx.get(f"{api}/v1/ledger/head", timeout=5).json()["sequence"] >= total or None, 90, 0.5,
               "every case event in the ledger")
    head = httpx.get(f"{api}/v1/ledger/head", timeout=5).json()
    last = httpx.get(f"{api}/v1/feed", params={"after": total - 1}, timeout=5).json()
    assert head == {"sequence": total, "hash": last[0]["ledger_hash"]}, "the head is not the last entry's hash"

    feed_topic = FEED.name(stack.topic_prefix)
    from_topic = ["--url", api, "--topic", feed_topic, "--bootstrap-servers", stack.bootstrap_servers]
    assert verify_feed_main(from_topic) == 0, capsys.readouterr().err
    assert f"copy agrees with the ledger: {total} entries kept; head sequence {total}" in capsys.readouterr().out

    # A township's feed: a filtered copy (gaps in the sequence), kept as the pages it was fetched in.
    township_copy = tmp_path / "far-township.json"
    township_copy.write_text(httpx.get(f"{api}/v1/feed", params={"township": FAR_TOWNSHIP, "limit": 1000},
                                       timeout=5).text)
    kept = len(json.loads(township_copy.read_text()))
    assert 0 < kept < total
    assert verify_feed_main([str(township_copy), "--url", api]) == 0
    assert f"copy agrees with the ledger: {kept} entries kept" in capsys.readouterr().out

    # Someone with the database's password rewrites entry 5 and re-hashes everything after it: the chain is
    # consistent again (verify_ledger passes), but the kept copies no longer match the ledger.
    engine = make_engine(register_url)
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(select(LedgerRow).where(LedgerRow.sequence >= 5).order_by(LedgerRow.sequence)))
        previous = rows[0].prev_hash
        for row in rows:
            if row.sequence == 5:
                row.payload = {**row.payload, "note": "altered"}
            row.prev_hash = previous
            row.hash = previous = chain_hash(row.sequence, row.event_id, row.payload, row.prev_hash)
    assert verify(engine).intact
    assert verify_feed_main(from_topic) == 1
    assert "sequence 5 differs from the copy" in capsys.readouterr().out

    # Entries cut off the end: the head falls behind what the consumer kept.
    with Session(engine) as session, session.begin():
        session.execute(delete(LedgerRow).where(LedgerRow.sequence > total - 2))
    assert verify(engine).intact
    assert verify_feed_main(from_topic) == 1
    assert (f"the ledger's head is sequence {total - 2}, but the copy holds entries up to {total}"
            in capsys.readouterr().out)
    engine.dispose()

    # What is not a copy of the feed is refused as such, not judged.
    (tmp_path / "other.json").write_text('[{"sequence": 1}]')
    assert verify_feed_main([str(tmp_path / "other.json"), "--url", api]) == 2
    assert "not a feed entry" in capsys.readouterr().err
