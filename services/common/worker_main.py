"""The command line every asyncio worker shares: ``--web-port`` for /metrics, ``--loglevel`` for liandong's own log."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from prometheus_client import start_http_server

S = TypeVar("S")


def port_override(field: str, port: int) -> dict[str, Any]:
    """Settings keyword arguments for a ``--web-port`` given on the command line (none when it was not)."""
    return {field: port} if port else {}


def run_worker_main(description: str | None, settings_for: Callable[[int], S],
                    metrics_address: Callable[[S], tuple[str, int]],
                    run: Callable[[S], Coroutine[Any, Any, None]]) -> None:
    """Parse the shared options, configure logging, serve /metrics and run the worker until it stops.

    ``settings_for(web_port)`` gets 0 when ``--web-port`` is not given: the settings' own port then stands.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web-port", type=int, default=0, help="port of /metrics (default: the settings')")
    parser.add_argument("--loglevel", default="INFO", help="of liandong's own messages (rebalances, restores)")
    args = parser.parse_args()
    settings = settings_for(args.web_port)
    logging.basicConfig(level=logging.WARNING,
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    logging.getLogger("liandong").setLevel(args.loglevel.upper())
    host, port = metrics_address(settings)
    start_http_server(port, addr=host)
    asyncio.run(run(settings))
