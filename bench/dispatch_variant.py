"""A dispatch worker with proposed wiring changes (for services/common/faust_app.py), to measure them, not to use.

``python -m bench.dispatch_variant --web-port P [--linger-ms N]`` is ``python -m services.dispatch`` except that

- Faust's terminal spinner is off: with it, faust.Worker sets the root logger to DEBUG (its spinner turns on every
  record), so every debug call in aiokafka and Faust builds a LogRecord even at --loglevel WARNING;
- optionally the producer lingers ``N`` ms (Faust's default is 0: one produce request per send when idle).
"""

from __future__ import annotations

import argparse

import faust

from services.dispatch.agents import create_worker
from services.dispatch.settings import DispatchSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--web-port", type=int, default=0)
    parser.add_argument("--loglevel", default="WARNING")
    parser.add_argument("--linger-ms", type=int, default=0)
    args = parser.parse_args()
    settings = DispatchSettings(**({"worker_web_port": args.web_port} if args.web_port else {}))
    app = create_worker(settings)
    if args.linger_ms:
        app.conf.producer_linger = args.linger_ms / 1000
    worker = faust.Worker(app, loglevel=args.loglevel)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
