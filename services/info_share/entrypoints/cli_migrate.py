"""Bring the register's schema up to date:
python -m services.info_share.entrypoints.cli_migrate [--database-url URL]."""

from __future__ import annotations

import argparse

from services.info_share.adapters.register.database import make_engine, migrate
from services.info_share.settings import InfoShareSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: LIANDONG_DATABASE_URL")
    args = parser.parse_args(argv)
    engine = make_engine(args.database_url or InfoShareSettings().database_url)
    migrate(engine)
    print(f"register at {engine.url.render_as_string(hide_password=True)}: schema up to date")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
