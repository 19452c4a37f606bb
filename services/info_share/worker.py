"""Faust worker: decode a case event, apply it to the register, publish the public feed entry.

Failure policy, per event (in partition order, concurrency 1):
- undecodable (PoisonEvent) or not applicable to the register (unknown case, contradiction): dead-letter topic, with
  the reason in headers; the register is unchanged and the stream goes on;
- the database unavailable or locked: retried with backoff, indefinitely (services.common.faust_app
  .apply_until_stored) — the lag gauge shows it; nothing is skipped;
- anything else is a bug: logged with topic, partition and offset, then the process exits (status 70) *before* the
  event is acknowledged (services.common.pause_guard.stop_on_unexpected_error), so after a restart it is read again.
  Faust would otherwise restart the agent and acknowledge the failed event, skipping it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import cast

import faust

from schemas.events import CASE_EVENT_MODELS
from services.common.envelope import PoisonEvent, decode, encode
from services.common.faust_app import (
    DeadLetters,
    apply_until_stored,
    event_name,
    make_faust_app,
    messages_behind,
    raw_topic,
    run_worker,
)
from services.common.pause_guard import stop_on_unexpected_error
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.info_share import metrics
from services.info_share.register.database import make_engine, migrate, session_factory
from services.info_share.register.projection import CaseEvent, NotApplicable
from services.info_share.service import Register
from services.info_share.settings import InfoShareSettings
from services.reference.loader import load_reference_data

log = logging.getLogger(__name__)
SOURCE = "/info-share/feed"


def create_worker(settings: InfoShareSettings) -> faust.App:
    app = make_faust_app("info-share", settings, settings.worker_web_port)
    engine = make_engine(settings.database_url)
    migrate(engine)
    register = Register(session_factory(engine), load_reference_data())

    case_events = raw_topic(app, CASE_EVENTS.name(settings.topic_prefix))
    feed = raw_topic(app, FEED.name(settings.topic_prefix))
    dead_letters = DeadLetters(app, DEAD_LETTERS.name(settings.topic_prefix), "info_share", log)

    @app.agent(case_events, concurrency=1)  # >1 can commit past an in-flight event (faust-streaming #606)
    async def project(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                _ce, decoded = decode(message.headers or [], message.value, CASE_EVENT_MODELS)
                model = cast(CaseEvent, decoded)  # decode returns one of CASE_EVENT_MODELS
                result = await apply_until_stored(register.apply, model, message, log)
            except (PoisonEvent, NotApplicable) as exc:
                outcome = "poison" if isinstance(exc, PoisonEvent) else "not_applicable"
                metrics.EVENTS_APPLIED.labels(event_name(message, CASE_EVENT_MODELS), outcome).inc()
                await dead_letters.send(message, exc.reason)
            except Exception as exc:
                log.critical("cannot apply %s[%s]@%s", message.topic, message.partition, message.offset)
                stop_on_unexpected_error(log, exc)
            else:
                metrics.EVENTS_APPLIED.labels(model.event, result.outcome).inc()
                if result.entry is not None:
                    out = encode(result.entry, event_id=result.entry.event_id, source=SOURCE,
                                 key=result.entry.case_id, subject=result.entry.case_id,
                                 time=result.entry.occurred_at)
                    await feed.send(key=out.key, value=out.value, headers=out.headers)
                    if result.outcome == "applied":
                        delay = (datetime.now(UTC) - result.entry.occurred_at).total_seconds()
                        metrics.FEED_DELAY_SECONDS.observe(max(0.0, delay))
            behind = messages_behind(app, message)
            if behind is not None:
                metrics.FEED_LAG_MESSAGES.labels(str(message.partition)).set(behind)

    return app


def main() -> None:
    run_worker(create_worker, InfoShareSettings)


if __name__ == "__main__":
    main()
