"""Rebuild the register from the topics:
python -m services.info_share.entrypoints.cli_rebuild [--database-url URL] [--drop] [--compare-with URL].

Reads case-events (and the feed topic, for the ledger's order; see replay.py) from offset 0 up to their current end
and applies them to an empty register with the same projection the worker uses. Stop the worker first, or rebuild
into another database and switch over: events arriving during the rebuild are not in it (the worker, restarted on
the rebuilt register, applies them from its committed offsets; anything already there is skipped as a duplicate).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from sqlalchemy import Engine

from services.common.topics import CASE_EVENTS, FEED
from services.info_share.adapters import replay
from services.info_share.adapters.register.database import drop_schema, make_engine, migrate, session_factory
from services.info_share.adapters.register.projection import NotApplicable, apply_event, ledger_size
from services.info_share.adapters.register.snapshot import first_difference, snapshot
from services.info_share.settings import InfoShareSettings


@dataclass(frozen=True)
class RebuildReport:
    applied: int
    duplicates: int
    orphans: int
    not_applicable: int
    poison: int
    unsequenced: int  # ledger entries the feed had not recorded: appended after the recorded order
    sequence_holes: tuple[int, ...]
    sequence_mismatches: int  # ledger entries that got another sequence than the feed recorded
    feed_only: int

    @property
    def same_order(self) -> bool:
        return self.sequence_mismatches == 0 and not self.sequence_holes

    def lines(self) -> list[str]:
        lines = [f"applied {self.applied} case events ({self.duplicates} duplicates skipped, {self.orphans} orphan "
                 f"rejections kept, {self.not_applicable} not applicable, {self.poison} unreadable)"]
        if self.unsequenced:
            lines.append(f"{self.unsequenced} ledger entries had no feed entry yet: appended after the recorded order")
        if self.sequence_holes:
            lines.append(f"the feed lacks sequences {list(self.sequence_holes[:10])}…: the order after sequence "
                         f"{self.sequence_holes[0] - 1} may differ from the live register")
        if self.sequence_mismatches:
            lines.append(f"{self.sequence_mismatches} ledger entries got a sequence other than the feed's")
        if self.feed_only:
            lines.append(f"{self.feed_only} feed entries have no case event on the topic")
        return lines


class NotEmpty(RuntimeError):
    pass


def rebuild(engine: Engine, *, bootstrap_servers: str, topic_prefix: str, drop: bool = False) -> RebuildReport:
    if drop:
        drop_schema(engine)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        if ledger_size(session):
            raise NotEmpty("the register is not empty: rebuild into an empty database, or pass --drop")
    events, poison = replay.decode_case_events(replay.read_topic(bootstrap_servers, CASE_EVENTS.name(topic_prefix)))
    order = replay.plan(events, replay.feed_sequences(replay.read_topic(bootstrap_servers, FEED.name(topic_prefix))))
    counts = {"applied": 0, "duplicate": 0, "orphan": 0, "not_applicable": 0}
    mismatches = appended = 0
    for positioned in order.ordered:
        try:
            with sessions.begin() as session:
                applied = apply_event(session, positioned.event)
        except NotApplicable:
            counts["not_applicable"] += 1  # the live worker dead-lettered it too
            continue
        counts[applied.outcome] += 1
        expected = order.expected_sequence.get(positioned.event.event_id)
        if applied.outcome == "applied" and applied.row is not None:
            if expected is None:
                appended += 1
            else:
                mismatches += applied.row.sequence != expected
    return RebuildReport(
        applied=counts["applied"], duplicates=counts["duplicate"], orphans=counts["orphan"],
        not_applicable=counts["not_applicable"], poison=poison, unsequenced=appended,
        sequence_holes=tuple(order.sequence_holes), sequence_mismatches=mismatches, feed_only=order.feed_only,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="the register to build (default: LIANDONG_DATABASE_URL)")
    parser.add_argument("--drop", action="store_true", help="drop the register's tables first")
    parser.add_argument("--compare-with", metavar="URL", help="a live register to compare the result with")
    args = parser.parse_args(argv)
    settings = InfoShareSettings()
    engine = make_engine(args.database_url or settings.database_url)
    try:
        report = rebuild(engine, bootstrap_servers=settings.bootstrap_servers, topic_prefix=settings.topic_prefix,
                         drop=args.drop)
    except NotEmpty as exc:
        print(f"refused: {exc}")
        return 2
    print("\n".join(report.lines()))
    if args.compare_with:
        live = make_engine(args.compare_with)
        difference = first_difference(snapshot(live), snapshot(engine))
        print("identical to the live register" if difference is None else f"differs from the live register: "
              f"{difference}")
        return 0 if difference is None else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
