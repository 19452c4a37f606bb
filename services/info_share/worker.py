"""Faust worker: decode a case event, apply it to the register, publish the public feed entry.

Failure policy, per event, as every projection's (services.common.faust_app.add_projection): undecodable or not
applicable to the register (unknown case, contradiction) → dead-letter topic, the register unchanged and the stream
going on; the database unavailable or locked → retried with backoff until it is back (the lag gauge shows it);
anything else → the process exits before the event is acknowledged, so after a restart it is read again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust

from schemas.events import CASE_EVENT_MODELS
from services.common.envelope import encode
from services.common.faust_app import DeadLetters, add_projection, make_faust_app, raw_topic, run_worker
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.info_share import metrics
from services.info_share.register.database import make_engine, migrate, session_factory
from services.info_share.service import Register, Result
from services.info_share.settings import InfoShareSettings
from services.reference.loader import load_reference_data

log = logging.getLogger(__name__)
SOURCE = "/info-share/feed"


def create_worker(settings: InfoShareSettings) -> faust.App:
    app = make_faust_app("info-share", settings, settings.worker_web_port)
    engine = make_engine(settings.database_url)
    migrate(engine)
    register = Register(session_factory(engine), load_reference_data())
    feed = raw_topic(app, FEED.name(settings.topic_prefix))

    async def publish_entry(result: Result) -> None:
        if result.entry is None:
            return
        out = encode(result.entry, event_id=result.entry.event_id, source=SOURCE, key=result.entry.case_id,
                     subject=result.entry.case_id, time=result.entry.occurred_at)
        await feed.send(key=out.key, value=out.value, headers=out.headers)
        if result.outcome == "applied":
            delay = (datetime.now(UTC) - result.entry.occurred_at).total_seconds()
            metrics.FEED_DELAY_SECONDS.observe(max(0.0, delay))

    add_projection(app, raw_topic(app, CASE_EVENTS.name(settings.topic_prefix)), models=CASE_EVENT_MODELS,
                   apply=register.apply, outcome=lambda result: result.outcome,
                   dead_letters=DeadLetters(app, DEAD_LETTERS.name(settings.topic_prefix), "info_share", log),
                   events=metrics.EVENTS_APPLIED, lag=metrics.FEED_LAG_MESSAGES, log=log, then=publish_entry)
    return app


def main() -> None:
    run_worker(create_worker, InfoShareSettings)


if __name__ == "__main__":
    main()
