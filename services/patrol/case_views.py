"""Patrol's read-model worker: the case events, applied to patrol's own case view (``LIANDONG_CASE_VIEW_URL``).

Run as ``python -m services.patrol.case_views``. The status and Open311 views of the patrol API read what it keeps;
no other service's tables are read. Failure policy, per event (in partition order, concurrency 1), as the
info-share worker's: undecodable, or not fitting the view (its case unknown, opened twice) → dead-letter topic and
the stream goes on; the database unavailable → retried until it is back; anything else → the process stops before
the event is acknowledged, so it is read again after a restart.
"""

from __future__ import annotations

import logging
from typing import cast

import faust

from schemas.events import CASE_EVENT_MODELS
from services.common.envelope import PoisonEvent, decode
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
from services.common.topics import CASE_EVENTS, DEAD_LETTERS
from services.patrol import metrics
from services.patrol.adapters.case_views.store import CaseViewStore, make_engine, migrate
from services.patrol.domain.case_view import CaseEvent, NotApplicable
from services.patrol.settings import CaseViewSettings

log = logging.getLogger(__name__)


def create_worker(settings: CaseViewSettings) -> faust.App:
    app = make_faust_app("patrol-case-views", settings, settings.worker_web_port)
    engine = make_engine(settings.case_view_url)
    migrate(engine)
    store = CaseViewStore(engine)
    case_events = raw_topic(app, CASE_EVENTS.name(settings.topic_prefix))
    dead_letters = DeadLetters(app, DEAD_LETTERS.name(settings.topic_prefix), "patrol", log)

    @app.agent(case_events, concurrency=1)  # >1 can commit past an in-flight event (faust-streaming #606)
    async def keep_case_views(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                _ce, decoded = decode(message.headers or [], message.value, CASE_EVENT_MODELS)
                model = cast(CaseEvent, decoded)  # decode returns one of CASE_EVENT_MODELS
                outcome = await apply_until_stored(store.apply, model, message, log)
            except (PoisonEvent, NotApplicable) as exc:
                outcome = "poison" if isinstance(exc, PoisonEvent) else "not_applicable"
                metrics.CASE_VIEW_EVENTS.labels(event_name(message, CASE_EVENT_MODELS), outcome).inc()
                await dead_letters.send(message, exc.reason)
            except Exception as exc:
                log.critical("cannot apply %s[%s]@%s", message.topic, message.partition, message.offset)
                stop_on_unexpected_error(log, exc)
            else:
                metrics.CASE_VIEW_EVENTS.labels(model.event, outcome).inc()
            behind = messages_behind(app, message)
            if behind is not None:
                metrics.CASE_VIEW_LAG_MESSAGES.labels(str(message.partition)).set(behind)

    return app


def main() -> None:
    run_worker(create_worker, CaseViewSettings)


if __name__ == "__main__":
    main()
