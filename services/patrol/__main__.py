"""Run the patrol service: python -m services.patrol [--host H] [--port P] [--workers N]."""

from __future__ import annotations

import argparse

import uvicorn

from services.common.http_server import server_options
from services.patrol.entrypoints.workers import app_for_worker, prepare_workers
from services.patrol.settings import PatrolSettings

# Set, not "auto": uvloop and httptools run the event loop and parse HTTP/1.1 in C (the pure-Python h11 parser and
# asyncio loop cost ~0.4 ms of a single request's ~2 ms). Named here so that what serves patrol does not depend on
# which optional packages happen to be installed.
LOOP = "uvloop"
HTTP = "httptools"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes sharing the port (default: LIANDONG_PATROL_WORKERS, else 1)")
    args = parser.parse_args()
    settings = PatrolSettings()  # type: ignore[call-arg]
    workers = args.workers if args.workers is not None else settings.patrol_workers
    common = {"host": args.host, "port": args.port, "loop": LOOP, "http": HTTP, "log_level": "warning",
              "access_log": False, **server_options(settings.trusted_proxies)}
    if workers <= 1:
        uvicorn.run(app_for_worker(settings), **common)
        return
    # Each worker is a process of its own (spawned by uvicorn, which also restarts one that dies); they share the
    # listening socket, the idempotency store, the rate-limit buckets and the metrics (see workers.py).
    prepare_workers(settings)
    uvicorn.run("services.patrol.entrypoints.workers:app_from_environment", factory=True, workers=workers,
                **common)


if __name__ == "__main__":
    main()
