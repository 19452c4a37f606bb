"""Child process: the cost of one deadline tick of a dispatch worker holding N open cases, as JSON.

Two ways of finding the overdue referrals over the same tables, in the same process, interleaved: the deadline
index the worker uses (``Dispatcher.due_checks``), and the scan of every referral it did before (kept here as the
baseline). Both must name the same referrals.

    python -m bench.deadline_tick --cases 200000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import national
from services.common.deadlines import is_overdue
from services.common.lifecycle import State
from services.dispatch.service import CASE_FILES_TABLE, OVERDUE_TABLE, REFERRALS_TABLE, Dispatcher
from services.reference.loader import load_reference_data


def scan_every_referral(dispatcher: Dispatcher, now: datetime) -> list[str]:
    """The baseline: what a tick did before the index — visit every referral, keep the unwarned overdue ones."""
    found = []
    for referral_id, stored in list(dispatcher.tables[REFERRALS_TABLE].items()):
        if stored["state"] != State.ISSUED.value or referral_id in dispatcher.tables[OVERDUE_TABLE]:
            continue
        if is_overdue(datetime.fromisoformat(stored["accept_by"]), now):
            _group = dispatcher.tables[CASE_FILES_TABLE][stored["case_id"]]["dedup_group"]
            found.append(referral_id)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # A worker in its steady state: every deadline that passed before the last tick was warned about. Deadlines
    # are ends of working days, so one tick finds a whole day's unanswered referrals at once (the "due" tick, just
    # after the median deadline) and the ticks between find none (the "quiet" tick, just before it).
    tables: dict[str, dict[str, Any]] = {}
    for case in national.full_state(args.cases, now=datetime(2000, 1, 1, tzinfo=UTC)):
        for row in case.rows:
            tables.setdefault(row.table, {})[row.key] = row.value
    for name in (CASE_FILES_TABLE, REFERRALS_TABLE, OVERDUE_TABLE):
        tables.setdefault(name, {})
    issued = {rid: datetime.fromisoformat(r["accept_by"]) for rid, r in tables[REFERRALS_TABLE].items()
              if r["state"] == State.ISSUED.value}
    deadline = statistics.median_low(sorted(issued.values()))
    for referral_id, due in issued.items():
        if due < deadline:
            tables[OVERDUE_TABLE][referral_id] = {"deadline": due.isoformat(), "at": deadline.isoformat()}
    dispatcher = Dispatcher(load_reference_data(), tables)  # type: ignore[arg-type]
    started = time.perf_counter()
    dispatcher.rebuild_index()
    answer: dict[str, Any] = {"cases": args.cases, "referrals": len(tables[REFERRALS_TABLE]), "issued": len(issued),
                              "warned_before": len(tables[OVERDUE_TABLE]), "watched": len(dispatcher.due),
                              "rebuild_with_index_s": round(time.perf_counter() - started, 2)}
    for tick, now in (("quiet", deadline - timedelta(seconds=1)), ("due", deadline + timedelta(seconds=1))):
        indexed_ms, scanned_ms = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            from_index = sorted(check.referral_id for _key, check in dispatcher.due_checks(now))
            indexed_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            from_scan = sorted(scan_every_referral(dispatcher, now))
            scanned_ms.append((time.perf_counter() - started) * 1000)
            if from_index != from_scan:
                raise SystemExit(f"{tick} tick: the index and the scan disagree ({len(from_index)} vs "
                                 f"{len(from_scan)} referrals)")
        answer[tick] = {"found": len(from_index), "index_ms": indexed_ms, "scan_ms": scanned_ms,
                        "index_median_ms": statistics.median(indexed_ms),
                        "scan_median_ms": statistics.median(scanned_ms)}
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
