"""Run a dispatch worker: python -m services.dispatch [--web-port P] [--loglevel L]; several form one group."""

from __future__ import annotations

from services.common.worker_main import run_worker_main
from services.dispatch.settings import DispatchSettings
from services.dispatch.wiring import build_worker


def main() -> None:
    run_worker_main(__doc__, DispatchSettings, "worker_web_port", lambda settings: build_worker(settings).run())


if __name__ == "__main__":
    main()
