"""One patrol app per worker process, and what several workers behind one port must share.

With ``LIANDONG_PATROL_WORKERS`` > 1 uvicorn spawns that many processes accepting on one listening socket (one
process uses at most one CPU: the interpreter lock). What would otherwise be per process is shared:

- the idempotency store: one store for all (the SQLite file of ``LIANDONG_PATROL_STORE_URL``, or PostgreSQL); each
  worker group-commits its own calls, SQLite's write lock orders the workers' transactions, and a key claimed by one
  worker is seen by the others as by another instance;
- the rate limits: the per-caller buckets and the brute-force guard's per-address buckets live in files every worker
  maps (``adapters/shared_buckets.py``) under ``LIANDONG_RATE_LIMIT_STATE_DIR``, so N workers allow the configured
  rates, not N times them;
- the metrics: prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``), so ``/metrics`` from any worker
  counts every worker's requests.

The broker producer, the store's writer thread and the JWT cache stay per worker.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
from pathlib import Path

from fastapi import FastAPI

from services.patrol.adapters.idempotency_store import make_store_engine
from services.patrol.settings import PatrolSettings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
STATE_DIR_ENV = "LIANDONG_RATE_LIMIT_STATE_DIR"


def app_for_worker(settings: PatrolSettings) -> FastAPI:
    from services.patrol.wiring import create_app  # after the environment is set: it imports prometheus_client

    app = create_app(settings)
    # The reference data, county polygons and modules loaded so far live as long as the process: moved out of the
    # collector's generations, so its full collections stop walking them (~40 → ~14 µs of GC per batch item).
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> FastAPI:
    """The factory each spawned worker calls (``services.patrol.entrypoints.workers:app_from_environment``)."""
    return app_for_worker(PatrolSettings())  # type: ignore[call-arg]


def prepare_workers(settings: PatrolSettings) -> None:
    """In the parent, before any worker starts: the shared state, named in the environment the workers inherit."""
    scratch = Path(tempfile.mkdtemp(prefix="liandong-patrol-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    if not settings.rate_limit_state_dir:
        os.environ[STATE_DIR_ENV] = str(scratch / "rate-limits")
    # Fresh each start: counters restart at zero with the service, as they do with one process.
    metrics_dir = scratch / "metrics"
    metrics_dir.mkdir()
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    # Create the store's table once, here: workers creating it at the same moment could race on CREATE TABLE.
    make_store_engine(settings.patrol_store_url).dispose()
