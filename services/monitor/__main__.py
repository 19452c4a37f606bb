"""Run the consumer-lag exporter: python -m services.monitor [--host H] [--port P] [--interval SECONDS]."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from services.monitor.exporter import LagExporter, serve
from services.monitor.offsets import OffsetReader
from services.monitor.settings import MonitorSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", help="address to serve /metrics on (default LIANDONG_LAG_EXPORTER_HOST)")
    parser.add_argument("--port", type=int, help="port (default LIANDONG_LAG_EXPORTER_PORT, 9308)")
    parser.add_argument("--interval", type=float, help="seconds between polls of the broker (default 5)")
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {key: value for key, value in {"lag_exporter_host": args.host, "lag_exporter_port": args.port,
                                               "lag_poll_interval_seconds": args.interval}.items()
                 if value is not None}
    settings = MonitorSettings(**overrides)
    reader = OffsetReader(settings.bootstrap_servers, settings.group_pattern(), settings.topic_pattern())
    interval = settings.lag_poll_interval_seconds
    # Three missed polls before lag is withdrawn: one slow poll must not blank the dashboards.
    exporter = LagExporter(reader, max_age_seconds=3 * interval + 5,
                           skip_uncommitted=settings.uncommitted_skip_pattern())
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server, _thread = serve(exporter, settings.lag_exporter_host, settings.lag_exporter_port)
    try:
        exporter.poll_once()
        while not stop.wait(interval):
            exporter.poll_once()
    finally:
        server.shutdown()
        server.server_close()
        reader.close()


if __name__ == "__main__":
    main()
