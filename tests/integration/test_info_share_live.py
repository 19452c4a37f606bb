"""Reading the feed while the register grows: cursor pages and the SSE stream never skip or repeat an entry."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from services.common.polling import poll_until
from services.info_share.adapters.register.database import make_engine, migrate, session_factory
from services.info_share.service import Register
from services.info_share.settings import InfoShareApiSettings
from services.info_share.wiring import create_app
from services.reference.loader import load_reference_data
from tests.info_share_fixtures import Story, register_url  # noqa: F401 - fixture
from tests.serving import serving

pytestmark = pytest.mark.integration


@dataclass
class Server:
    base: str
    register: Register


@pytest.fixture
def server(register_url: str) -> Iterator[Server]:  # noqa: F811
    engine = make_engine(register_url)
    migrate(engine)
    settings = InfoShareApiSettings(jwt_secret=SecretStr("live-test-secret-0123456789abcdefghij"),
                                    database_url=register_url, feed_poll_seconds=0.05)
    try:
        with serving(create_app(settings)) as base:
            yield Server(base, Register(session_factory(engine), load_reference_data()))
    finally:
        engine.dispose()


def apply(register: Register, events: list, pause_seconds: float = 0.0) -> None:
    for event in events:
        register.apply(event)
        time.sleep(pause_seconds)


def read_stream(url: str, headers: dict[str, str], count: int, into: list[tuple[int, dict]]) -> None:
    """Read ``count`` SSE events (id, data) into ``into``, then hang up."""
    event_id: int | None = None
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=20)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and event_id is not None:
                into.append((event_id, data))
                event_id = None
                if len(into) >= count:
                    return


def test_stream_resumes_after_last_event_id_and_follows_new_entries(server: Server) -> None:
    apply(server.register, Story(1).lifecycle())  # sequences 1..10
    received: list[tuple[int, dict]] = []
    reader = threading.Thread(target=read_stream, args=(f"{server.base}/v1/feed/stream", {"Last-Event-ID": "3"},
                                                        11, received))
    reader.start()
    poll_until(lambda: len(received) >= 7, 20, 0.05, "the backlog after sequence 3")
    apply(server.register, Story(2).lifecycle()[:4], pause_seconds=0.1)  # 11..14 arrive while streaming
    reader.join(30)
    assert [event_id for event_id, _ in received] == list(range(4, 15))
    assert all(data["sequence"] == event_id for event_id, data in received)

    # A client that reconnects with the last id it saw gets the rest, and nothing twice.
    again: list[tuple[int, dict]] = []
    reader = threading.Thread(target=read_stream, args=(f"{server.base}/v1/feed/stream?after=1",
                                                        {"Last-Event-ID": "14"}, 2, again))
    reader.start()
    apply(server.register, Story(2).lifecycle()[4:6])
    reader.join(30)
    assert [event_id for event_id, _ in again] == [15, 16]


def test_stream_filters_and_refuses_a_bad_last_event_id(server: Server) -> None:
    apply(server.register, Story(1).lifecycle() + Story(2, township="210624100", lead="team:210624:water").
          lifecycle()[:3])
    received: list[tuple[int, dict]] = []
    read_stream(f"{server.base}/v1/feed/stream?township=210624100", {}, 3, received)
    assert [data["event"] for _, data in received] == ["case_opened", "finding_merged", "referral_issued"]
    assert [event_id for event_id, _ in received] == [11, 12, 13]
    assert httpx.get(f"{server.base}/v1/feed/stream", headers={"Last-Event-ID": "abc"}).status_code == 400


def test_cursor_pages_while_events_keep_arriving(server: Server) -> None:
    events = [e for n in range(6) for e in Story(10 + n).lifecycle()]  # 60 events
    writer = threading.Thread(target=apply, args=(server.register, events, 0.01))
    writer.start()
    seen: list[int] = []
    cursor = 0
    deadline = time.monotonic() + 60
    while len(seen) < len(events) and time.monotonic() < deadline:
        answer = httpx.get(f"{server.base}/v1/feed", params={"after": cursor, "limit": 3})
        seen += [entry["sequence"] for entry in answer.json()]
        cursor = int(answer.headers["X-Next-Cursor"])
    writer.join(30)
    assert seen == list(range(1, len(events) + 1))
