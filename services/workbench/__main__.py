"""Run the workbench: python -m services.workbench [--host H] [--port P] (settings from LIANDONG_* variables)."""

from __future__ import annotations

import argparse

import uvicorn

from services.workbench.wiring import bootstrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    args = parser.parse_args()
    uvicorn.run(bootstrap(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
