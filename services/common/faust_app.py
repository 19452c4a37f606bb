"""One way to build a Faust app for liandong: explicit topics (never declared by Faust), memory tables, /metrics."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import faust
from faust.web import Request, View
from faust.web import Response as WebResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.dead_letters import dead_letter
from services.common.settings import KafkaSettings

S = TypeVar("S", bound=KafkaSettings)


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
    faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()


def stop_on_unexpected_error(log: logging.Logger, exc: BaseException) -> NoReturn:
    """Failure policy for a bug or an outage we cannot handle: exit at once, without committing.

    Faust would otherwise restart the agent and may ack the event that failed. Exiting leaves every offset past the
    last commit uncommitted, so after a restart the events are processed again — safely, as handlers are idempotent.
    """
    log.critical("unexpected error; stopping this worker without committing: %r", exc, exc_info=exc)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE


class PauseGuard:
    """Stops a worker that was frozen (SIGSTOP, a VM stall, swapping) long enough to have lost its partitions.

    While a process is frozen its consumer group may hand its partitions to another worker. On waking, it could act
    on the stale ownership — decide a finding the new owner decides too — before its heartbeat learns of the
    rebalance. The guard's ticker notices that it woke late, and each event checks the time since the last tick;
    either way the worker exits without committing and is restarted with fresh ownership and state.
    """

    def __init__(self, app: faust.App, limit_seconds: float, log: logging.Logger, tick_seconds: float = 0.5):
        self.limit_seconds = limit_seconds
        self.log = log
        self.last_tick = time.monotonic()
        self._excused = False

        @app.timer(interval=tick_seconds)
        async def tick() -> None:
            self.check("the pause guard's timer woke late")
            self.last_tick = time.monotonic()

    @contextlib.contextmanager
    def excused(self) -> Iterator[None]:
        """Work this worker does on purpose while blocking its loop (restoring state) is not a pause."""
        self._excused = True
        try:
            yield
        finally:
            self._excused = False
            self.last_tick = time.monotonic()

    def check(self, where: str = "before an event") -> None:
        if self._excused:
            return
        paused = time.monotonic() - self.last_tick
        if paused > self.limit_seconds:
            stop_on_unexpected_error(self.log, RuntimeError(
                f"process was paused for {paused:.1f}s ({where}), longer than {self.limit_seconds:.1f}s: "
                "its partitions may belong to another worker now"))


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
