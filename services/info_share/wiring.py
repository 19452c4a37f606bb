"""The one place the info-share API and worker are built from their settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import faust
from fastapi import FastAPI

from schemas.events import CASE_EVENT_MODELS
from services.common.audit import AuditLog, JsonLinesAuditLog
from services.common.faust_app import DeadLetters, add_projection, make_faust_app, raw_topic
from services.common.http_metrics import HttpMetrics
from services.common.http_server import HeaderLimit
from services.common.rate_limit import AuthFailureLimit, TokenBuckets
from services.common.topics import CASE_EVENTS, DEAD_LETTERS, FEED, REFERRAL_RESPONSES
from services.info_share import metrics
from services.info_share.adapters.action_publisher import ActionPublisher
from services.info_share.adapters.feed_publisher import FeedPublisher
from services.info_share.adapters.register.database import make_engine, migrate, session_factory
from services.info_share.auth import parse_work_order_keys
from services.info_share.entrypoints import feed_api, lifecycle_api, open311_updates, ops_api, register_api
from services.info_share.entrypoints.deps import ApiState, StreamSlots
from services.info_share.entrypoints.errors import add_error_handlers
from services.info_share.service import ActionDesk, Register
from services.info_share.settings import InfoShareApiSettings, InfoShareSettings
from services.reference.loader import load_reference_data

log = logging.getLogger("services.info_share.worker")


def create_app(settings: InfoShareApiSettings, *, audit: AuditLog | None = None) -> FastAPI:
    """The schema must already be migrated (``python -m services.info_share`` does it before serving)."""
    sessions = session_factory(make_engine(settings.database_url))
    publisher = ActionPublisher(settings.bootstrap_servers, REFERRAL_RESPONSES.name(settings.topic_prefix),
                                settings.action_publish_timeout_seconds)
    state = ApiState(
        settings=settings, audit_log=audit or JsonLinesAuditLog(settings.info_share_audit_log_path),
        auth_failures=AuthFailureLimit(settings.auth_failures_per_minute, settings.auth_failure_burst),
        reads=TokenBuckets(settings.reads_per_minute, settings.read_burst),
        streams=StreamSlots(settings.streams_per_caller), sessions=sessions, reference=load_reference_data(),
        desk=ActionDesk(sessions=sessions, publisher=publisher, wait_seconds=settings.action_wait_seconds),
        work_order_keys=parse_work_order_keys(settings.work_order_api_keys.get_secret_value()))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = FastAPI(title="liandong shared enforcement-information feed and lifecycle API", version="1.2.0",
                  description="Case register and feed, personal data masked by audience; the lifecycle actions of "
                              "receiving bodies, townships and county coordination (docs/info_share.md, "
                              "docs/lifecycle.md).", lifespan=lifespan)
    app.state.info_share = state
    app.middleware("http")(ops_api.time_requests)
    add_error_handlers(app)
    for router in (feed_api.router, register_api.router, lifecycle_api.router, open311_updates.router,
                   ops_api.router):
        app.include_router(router)
    # Added last, so outermost of the application's middleware: sees the exceptions Starlette answers with 500.
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    app.add_middleware(HttpMetrics, service="info-share")
    return app


def create_worker(settings: InfoShareSettings) -> faust.App:
    app = make_faust_app("info-share", settings, settings.worker_web_port)
    engine = make_engine(settings.database_url)
    migrate(engine)
    register = Register(session_factory(engine), load_reference_data())
    feed = FeedPublisher(raw_topic(app, FEED.name(settings.topic_prefix)))
    add_projection(app, raw_topic(app, CASE_EVENTS.name(settings.topic_prefix)), models=CASE_EVENT_MODELS,
                   apply=register.apply, outcome=lambda result: result.outcome,
                   dead_letters=DeadLetters(app, DEAD_LETTERS.name(settings.topic_prefix), "info_share", log),
                   events=metrics.EVENTS_APPLIED, lag=metrics.FEED_LAG_MESSAGES, log=log,
                   then=lambda result: feed.publish(result.entry, result.outcome))
    return app
