"""Verify the ledger's hash chain: python -m services.info_share.entrypoints.cli_verify_ledger [--database-url URL].

Exit status 0 when every link holds (prints the head hash: keep it somewhere else — a chain alone cannot show that
entries were cut off its end), 1 naming the first broken link otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from services.info_share.adapters.register.database import make_engine
from services.info_share.adapters.register.tables import LedgerRow
from services.info_share.domain.ledger import Link, Verdict, verify_chain
from services.info_share.settings import InfoShareSettings


def verify(engine: Engine) -> Verdict:
    with Session(engine) as session:
        return verify_chain(_links(session))


def _links(session: Session) -> Iterator[Link]:
    rows = session.scalars(select(LedgerRow).order_by(LedgerRow.sequence).execution_options(yield_per=1000))
    for row in rows:
        yield Link(sequence=row.sequence, event_id=row.event_id, event=row.event, case_id=row.case_id,
                   occurred_at=row.occurred_at, payload=row.payload, prev_hash=row.prev_hash, hash=row.hash)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: LIANDONG_DATABASE_URL")
    args = parser.parse_args(argv)
    verdict = verify(make_engine(args.database_url or InfoShareSettings().database_url))
    if verdict.first_break is None:
        print(f"ledger intact: {verdict.checked} entries, head hash {verdict.head_hash}")
        return 0
    print(f"ledger BROKEN after {verdict.checked} good entries — {verdict.first_break}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
