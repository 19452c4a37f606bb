"""One way to build a Faust app for liandong: explicit topics (never declared by Faust), memory tables, /metrics."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
from faust.web import Request, View
from faust.web import Response as WebResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from sqlalchemy.exc import InterfaceError, OperationalError

from schemas.events import WireModel
from services.common.dead_letters import dead_letter
from services.common.envelope import PoisonEvent, decode
from services.common.pause_guard import stop_on_unexpected_error
from services.common.projection import NotApplicable
from services.common.settings import KafkaSettings

S = TypeVar("S", bound=KafkaSettings)
R = TypeVar("R")
A = TypeVar("A")


def make_faust_app(name: str, settings: KafkaSettings, web_port: int) -> faust.App:
    app = faust.App(
        f"{settings.group_prefix}-{name}",
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        # The project creates every topic itself (services.common.kafka_admin), with matching partition counts.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        table_standby_replicas=0,
        web_enabled=True,
        web_host=settings.worker_web_host,
        # Memory stores keep nothing on disk; Faust still wants a data directory, which must not land in the repo.
        datadir=os.path.join(tempfile.gettempdir(), "liandong-faust"),
        web_port=web_port,
        web_in_thread=False,
        autodiscover=False,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 5),
    )

    @app.page("/metrics")
    async def metrics(web: View, _request: Request) -> WebResponse:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 by definition.
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0] + "; version=0.0.4")

    return app


def run_worker(create: Callable[[S], faust.App], settings_type: type[S]) -> None:
    """Command line of a worker: ``--web-port`` for /metrics; runs until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--web-port", type=int, default=0)
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args()
    overrides = {"worker_web_port": args.web_port} if args.web_port else {}
    settings = settings_type(**overrides)
    app = create(settings)
    worker = faust.Worker(app, loglevel=args.loglevel)
    # With its terminal spinner on, faust.Worker sets the root logger to DEBUG, so every debug call in aiokafka and
    # Faust builds a log record even at WARNING (about a quarter of a busy worker's time in profiles).
    worker.spinner = None
    worker.execute_from_commandline()


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """A topic of bytes: liandong decodes CloudEvents itself (services.common.envelope)."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


class DeadLetters:
    """Sends an event a worker cannot read to the dead-letter topic, with why and where it came from."""

    def __init__(self, app: faust.App, topic_name: str, service: str, log: logging.Logger) -> None:
        self._topic = raw_topic(app, topic_name)
        self._service = service
        self._log = log

    async def send(self, message: Any, reason: str) -> None:
        self._log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset,
                          reason)
        record = dead_letter(self._service, message.key, message.value, message.headers or [], reason,
                             message.topic, message.partition, message.offset)
        await self._topic.send(key=record.key, value=record.value, headers=record.headers)


RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


async def apply_until_stored(apply: Callable[[A], R], event: A, message: Any, log: logging.Logger) -> R:
    """Write ``event`` with ``apply`` in a thread, retried with backoff while the database is unavailable.

    In a thread: a slow commit must not stall the event loop (heartbeats, the producer). Unavailable or locked
    (OperationalError, InterfaceError) is retried indefinitely — the lag gauge shows it; nothing is skipped.
    """
    wait = RETRY_FIRST_SECONDS
    while True:
        try:
            return await asyncio.to_thread(apply, event)
        except (OperationalError, InterfaceError) as exc:
            log.warning("database unavailable applying %s[%s]@%s, retrying in %.1fs: %s", message.topic,
                        message.partition, message.offset, wait, exc.orig or exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_MAX_SECONDS)


def messages_behind(app: faust.App, message: Any) -> int | None:
    """How many records of the message's partition are after it; None right after an assignment (not known yet)."""
    try:
        highwater = app.consumer.highwater(message.tp)
    except Exception:
        return None
    return None if highwater is None else max(0, highwater - message.offset - 1)


def add_projection(app: faust.App, topic: faust.TopicT, *, models: tuple[type[WireModel], ...],
                   apply: Callable[[Any], R], outcome: Callable[[R], str], dead_letters: DeadLetters,
                   events: Counter, lag: Gauge, log: logging.Logger,
                   then: Callable[[R], Awaitable[None]] | None = None) -> None:
    """The agent of a projection: each record decoded, applied once by ``apply`` (in a thread, retried while the
    database is down), counted in ``events{event, outcome}``, its partition's lag kept in ``lag{partition}``.

    Per record, in partition order (concurrency 1: more can commit past an in-flight event, faust-streaming #606):
    undecodable (PoisonEvent) or not applicable (``projection.NotApplicable``) → the dead-letter topic, and the stream
    goes on; anything else is a bug: logged with topic, partition and offset, then the process exits (status 70)
    *before* the record is acknowledged, so after a restart it is read again — Faust would otherwise restart the
    agent and acknowledge the failed record, skipping it. ``then`` runs after a record is applied (info-share
    publishes its feed entry there).
    """

    @app.agent(topic, concurrency=1)
    async def project(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                _ce, model = decode(message.headers or [], message.value, models)
                result = await apply_until_stored(apply, model, message, log)
            except (PoisonEvent, NotApplicable) as exc:
                kind = "poison" if isinstance(exc, PoisonEvent) else "not_applicable"
                events.labels(event_name(message, models), kind).inc()
                await dead_letters.send(message, exc.reason)
            except Exception as exc:
                log.critical("cannot apply %s[%s]@%s", message.topic, message.partition, message.offset)
                stop_on_unexpected_error(log, exc)
            else:
                events.labels(getattr(model, "event", type(model).__name__), outcome(result)).inc()
                if then is not None:
                    await then(result)
            behind = messages_behind(app, message)
            if behind is not None:
                lag.labels(str(message.partition)).set(behind)


def event_name(message: Any, models: tuple[type[Any], ...]) -> str:
    """The ``event`` name of a record's CloudEvents type (for metrics of records that could not be decoded)."""
    ce_type = dict(message.headers or []).get("ce_type", b"")
    for model in models:
        if model.CE_TYPE.encode() == ce_type:
            return str(model.model_fields["event"].default)
    return "unknown"
