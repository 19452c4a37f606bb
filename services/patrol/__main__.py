"""Run the patrol service: python -m services.patrol [--host H] [--port P]."""

from __future__ import annotations

import argparse
import gc

import uvicorn

from services.patrol.api import create_app
from services.patrol.settings import PatrolSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    app = create_app(PatrolSettings())  # type: ignore[call-arg]
    # The reference data, county polygons and modules loaded so far live as long as the process: moved out of the
    # collector's generations, so its full collections stop walking them (~40 → ~14 µs of GC per batch item).
    gc.collect()
    gc.freeze()
    # One process on purpose: the rate-limit buckets live in its memory, so N workers would allow N times the rate.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
