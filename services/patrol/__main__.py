"""Run the patrol service: python -m services.patrol [--host H] [--port P]."""

from __future__ import annotations

import argparse

import uvicorn

from services.patrol.api import create_app
from services.patrol.settings import PatrolSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvicorn.run(create_app(PatrolSettings()), host=args.host, port=args.port, log_level="warning")  # type: ignore[call-arg]


if __name__ == "__main__":
    main()
