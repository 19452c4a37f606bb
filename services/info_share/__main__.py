"""Run the info-share HTTP API: python -m services.info_share [--host H] [--port P] (migrates the register first)."""

from __future__ import annotations

import argparse

import uvicorn

from services.common.http_server import server_options
from services.info_share.adapters.register.database import make_engine, migrate
from services.info_share.settings import InfoShareApiSettings
from services.info_share.wiring import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args()
    settings = InfoShareApiSettings()  # type: ignore[call-arg]  # the secret comes from LIANDONG_JWT_SECRET
    engine = make_engine(settings.database_url)
    migrate(engine)
    engine.dispose()
    # uvloop and httptools: pinned dependencies ("auto" would pick them silently).
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                loop="uvloop", http="httptools", **server_options(settings.trusted_proxies))


if __name__ == "__main__":
    main()
