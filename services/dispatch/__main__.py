"""Run a dispatch worker: python -m services.dispatch [--web-port P] [--loglevel L]; several form one group."""

from __future__ import annotations

import argparse
import asyncio
import logging

from prometheus_client import start_http_server

from services.dispatch.settings import DispatchSettings
from services.dispatch.worker import DispatchWorker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--web-port", type=int, default=0, help="port of /metrics (default: the settings')")
    parser.add_argument("--loglevel", default="INFO", help="of liandong's own messages (rebalances, restores)")
    args = parser.parse_args()
    settings = DispatchSettings(**({"worker_web_port": args.web_port} if args.web_port else {}))
    logging.basicConfig(level=logging.WARNING,
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    logging.getLogger("liandong").setLevel(args.loglevel.upper())
    start_http_server(settings.worker_web_port, addr=settings.worker_web_host)
    asyncio.run(DispatchWorker(settings).run())


if __name__ == "__main__":
    main()
