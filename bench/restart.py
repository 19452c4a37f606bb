"""Restart of a dispatch worker holding N open cases (every table: ``recovery.load_full_state``), in one run on one
broker: the in-memory store (every changelog from the start), the RocksDB store without local state (every changelog
from the start, into its databases), and the RocksDB store restarted on its own directory (the tail only: nothing
was written since its stop).

    .venv/bin/python -m bench.restart --cases 100000 --runs 2

Prints one JSON line; not part of ``make bench`` (it would add the national whole-state load a second time).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict
from typing import Any

from bench import recovery
from bench.stack import remove, temporary_stack
from services.common.kafka_admin import ensure_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    stack = temporary_stack()
    results: dict[str, Any] = {"cases": args.cases, "runs": {"memory": [], "rocksdb_cold": [], "rocksdb_restart": []}}
    try:
        stack.start_broker()
        stack.topic_prefix, stack.group_prefix = "restart", "bench-restart"
        ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
        results["loaded"] = recovery.load_full_state(stack, args.cases)
        for run in range(args.runs):  # interleaved: the machine's load hits each the same
            memory = recovery.recover_once(stack, f"memory-{run}", env={"LIANDONG_DISPATCH_STATE": "memory"})
            cold = recovery.recover_once(stack, f"rocksdb-{run}", env={"LIANDONG_DISPATCH_STATE": "rocksdb"})
            warm = recovery.recover_once(stack, f"rocksdb-{run}-restart", env={"LIANDONG_DISPATCH_STATE": "rocksdb"},
                                         state_dir=f"rocksdb-{run}")
            for kind, measured in (("memory", memory), ("rocksdb_cold", cold), ("rocksdb_restart", warm)):
                if measured.open_cases != args.cases:
                    raise RuntimeError(f"{kind}: {measured.open_cases} open cases rebuilt, {args.cases} written")
                results["runs"][kind].append(asdict(measured))
        results["median_seconds"] = {kind: statistics.median(r["seconds"] for r in rows)
                                     for kind, rows in results["runs"].items()}
    finally:
        remove(stack)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
