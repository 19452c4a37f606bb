"""Patrol's read-model worker: the case events, applied to patrol's own case view (``LIANDONG_CASE_VIEW_URL``).

Run as ``python -m services.patrol.entrypoints.case_views``. The status and Open311 views of the patrol API read what
it keeps; no other service's tables are read. Failure policy, per event (in partition order, concurrency 1), as the
info-share worker's: undecodable, or not fitting the view (its case unknown, opened twice) → dead-letter topic and
the stream goes on; the database unavailable → retried until it is back; anything else → the process stops before
the event is acknowledged, so it is read again after a restart.
"""

from __future__ import annotations

import logging

import faust

from schemas.events import CASE_EVENT_MODELS
from services.common.faust_app import DeadLetters, add_projection, make_faust_app, raw_topic, run_worker
from services.common.topics import CASE_EVENTS, DEAD_LETTERS
from services.patrol.adapters import metrics
from services.patrol.adapters.case_views.store import CaseViewStore, make_engine, migrate
from services.patrol.settings import CaseViewSettings

log = logging.getLogger(__name__)


def create_worker(settings: CaseViewSettings) -> faust.App:
    app = make_faust_app("patrol-case-views", settings, settings.worker_web_port)
    engine = make_engine(settings.case_view_url)
    migrate(engine)
    store = CaseViewStore(engine)
    add_projection(app, raw_topic(app, CASE_EVENTS.name(settings.topic_prefix)), models=CASE_EVENT_MODELS,
                   apply=store.apply, outcome=str,
                   dead_letters=DeadLetters(app, DEAD_LETTERS.name(settings.topic_prefix), "patrol", log),
                   events=metrics.CASE_VIEW_EVENTS, lag=metrics.CASE_VIEW_LAG_MESSAGES, log=log)
    return app


def main() -> None:
    run_worker(create_worker, CaseViewSettings)


if __name__ == "__main__":
    main()
