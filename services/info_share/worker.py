"""Faust worker: decode a case event, apply it to the register, publish the public feed entry.

Failure policy, per event (in partition order, concurrency 1):
- undecodable (PoisonEvent) or not applicable to the register (unknown case, contradiction): dead-letter topic, with
  the reason in headers; the register is unchanged and the stream goes on;
- the database unavailable or locked (OperationalError, InterfaceError): retried with backoff, indefinitely — the
  lag gauge shows it; nothing is skipped;
- anything else is a bug: logged with topic, partition and offset, then the process exits (status 70) *before* the
  event is acknowledged (services.common.pause_guard.stop_on_unexpected_error), so after a restart it is read again.
  Faust would otherwise restart the agent and acknowledge the failed event, skipping it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, cast

import faust
from sqlalchemy.exc import InterfaceError, OperationalError

from schemas.events import CASE_EVENT_MODELS
from services.common.envelope import PoisonEvent, decode, encode
from services.common.faust_app import DeadLetters, make_faust_app, raw_topic, run_worker
from services.common.pause_guard import stop_on_unexpected_error
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED
from services.info_share import metrics
from services.info_share.register.database import make_engine, migrate, session_factory
from services.info_share.register.projection import CaseEvent, NotApplicable
from services.info_share.service import Register, Result
from services.info_share.settings import InfoShareSettings
from services.reference.loader import load_reference_data

log = logging.getLogger(__name__)
SOURCE = "/info-share/feed"
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


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
                result = await _apply_with_retry(register, model, message)
            except (PoisonEvent, NotApplicable) as exc:
                outcome = "poison" if isinstance(exc, PoisonEvent) else "not_applicable"
                metrics.EVENTS_APPLIED.labels(_event_name(message), outcome).inc()
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
            _observe_lag(app, message)

    return app


async def _apply_with_retry(register: Register, model: CaseEvent, message: Any) -> Result:
    wait = RETRY_FIRST_SECONDS
    while True:
        try:
            # In a thread: a slow commit must not stall the event loop (heartbeats, the producer).
            return await asyncio.to_thread(register.apply, model)
        except (OperationalError, InterfaceError) as exc:
            log.warning("register unavailable applying %s[%s]@%s, retrying in %.1fs: %s", message.topic,
                        message.partition, message.offset, wait, exc.orig or exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_MAX_SECONDS)


def _observe_lag(app: faust.App, message: Any) -> None:
    try:
        highwater = app.consumer.highwater(message.tp)
    except Exception:  # not known yet right after an assignment: report next time
        return
    if highwater is not None:
        metrics.FEED_LAG_MESSAGES.labels(str(message.partition)).set(max(0, highwater - message.offset - 1))


def _event_name(message: Any) -> str:
    ce_type = dict(message.headers or []).get("ce_type", b"")
    for model in CASE_EVENT_MODELS:
        if model.CE_TYPE.encode() == ce_type:
            return str(model.model_fields["event"].default)
    return "unknown"


def main() -> None:
    run_worker(create_worker, InfoShareSettings)


if __name__ == "__main__":
    main()
