"""Faust worker: project case events into the register, then publish the masked feed entry."""

from __future__ import annotations

import logging

import faust
from prometheus_client import Counter

from schemas.events import CASE_EVENT_MODELS
from services.common.dead_letters import dead_letter
from services.common.envelope import PoisonEvent, decode, encode
from services.common.faust_app import make_faust_app, run_worker
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.info_share.feed import feed_entry
from services.info_share.register.database import create_schema, make_engine, session_factory
from services.info_share.register.projection import apply_event
from services.info_share.register.tables import CaseRow
from services.info_share.settings import InfoShareSettings
from services.reference.loader import load_reference_data

log = logging.getLogger(__name__)
EVENTS_APPLIED = Counter("liandong_register_events_applied_total", "Case events applied to the register",
                         ["event", "outcome"])


def create_worker(settings: InfoShareSettings) -> faust.App:
    app = make_faust_app("info-share", settings, settings.worker_web_port)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    sessions = session_factory(engine)
    reference = load_reference_data()
    case_events = app.topic(CASE_EVENTS.name(settings.topic_prefix), key_type=bytes, value_type=bytes,
                            value_serializer="raw", key_serializer="raw")
    feed = app.topic(FEED.name(settings.topic_prefix), key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(DEAD_LETTERS.name(settings.topic_prefix), key_serializer="raw",
                             value_serializer="raw")

    @app.agent(case_events, concurrency=1)  # >1 can commit past an in-flight event (faust-streaming #606)
    async def project(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                _ce, model = decode(message.headers or [], message.value, CASE_EVENT_MODELS)
            except PoisonEvent as exc:
                record = dead_letter("info_share", message.key, message.value, message.headers or [],
                                     exc.reason, message.topic, message.partition, message.offset)
                await dead_letters.send(key=record.key, value=record.value, headers=record.headers)
                continue
            with sessions.begin() as session:
                row, is_new = apply_event(session, model)  # type: ignore[arg-type]
                case = session.get(CaseRow, row.case_id)
                assert case is not None
                entry = feed_entry(row, case, reference)
            EVENTS_APPLIED.labels(row.event, "applied" if is_new else "duplicate").inc()
            # Re-sent for a duplicate too: the earlier run may have crashed between commit and publish.
            out = encode(entry, event_id=entry.event_id, source="/info-share/feed", key=entry.case_id,
                         subject=entry.case_id, time=entry.occurred_at)
            await feed.send(key=out.key, value=out.value, headers=out.headers)

    return app


def main() -> None:
    run_worker(create_worker, InfoShareSettings)


if __name__ == "__main__":
    main()
