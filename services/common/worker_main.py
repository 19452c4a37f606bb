"""What every asyncio worker shares: its command line (``--web-port`` for /metrics, ``--loglevel`` for liandong's own
log) and stopping on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from prometheus_client import start_http_server

from services.common.settings import KafkaSettings

S = TypeVar("S", bound=KafkaSettings)


def stop_on_signals(stopping: asyncio.Event) -> asyncio.AbstractEventLoop:
    """Set ``stopping`` on SIGTERM or SIGINT (the worker then stops cleanly); returns the running loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    return loop


def run_worker_main(description: str | None, settings_type: Callable[..., S], web_port_field: str,
                    run: Callable[[S], Coroutine[Any, Any, None]]) -> None:
    """Parse the shared options, configure logging, serve /metrics and run the worker until it stops.

    /metrics is served on ``worker_web_host`` at the port the settings' ``web_port_field`` names; ``--web-port``
    overrides it.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web-port", type=int, default=0, help="port of /metrics (default: the settings')")
    parser.add_argument("--loglevel", default="INFO", help="of liandong's own messages (rebalances, restores)")
    args = parser.parse_args()
    settings = settings_type(**({web_port_field: args.web_port} if args.web_port else {}))
    logging.basicConfig(level=logging.WARNING,
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    logging.getLogger("liandong").setLevel(args.loglevel.upper())
    start_http_server(getattr(settings, web_port_field), addr=settings.worker_web_host)
    asyncio.run(run(settings))
