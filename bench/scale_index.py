"""Child process: hold a DedupIndex of N national open cases, report its resident memory and decide() cost as JSON.

Run alone (``python -m bench.scale_index --cases 1000000``) so the resident size is the index's and nothing else's.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable

from bench import national
from bench.machine import rss_bytes
from bench.stats import percentile
from services.dispatch.domain import dedup


def time_decisions(index: dedup.DedupIndex, reports: list[dedup.Report],
                   decide: Callable[[dedup.Report, dedup.DedupIndex], dedup.Decision]) -> tuple[list[float], list[str]]:
    """Microseconds per decide() call, one by one (the index is not changed: decide() only reads)."""
    timings = []
    outcomes = []
    clock = time.perf_counter_ns
    for report in reports:
        started = clock()
        decision = decide(report, index)
        timings.append((clock() - started) / 1000)
        outcomes.append(repr(decision))
    return timings, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    national.categories()
    national._county_shapes()
    gc.collect()
    baseline = rss_bytes()
    started = time.perf_counter()
    index = dedup.DedupIndex.restore(national.rows(args.cases))
    build_seconds = time.perf_counter() - started
    gc.collect()
    held = rss_bytes()
    cases = list(index._open.values())
    result: dict[str, object] = {
        "cases": len(index), "members": len(index._members), "groups": len(index._open_grids),
        "build_s": round(build_seconds, 2), "baseline_rss_bytes": baseline, "rss_bytes": held,
        "index_rss_bytes": held - baseline, "decide_us": [], "decide_p99_us": [],
    }
    variants: dict[str, Callable[[dedup.Report, dedup.DedupIndex], dedup.Decision]] = {"current": dedup.decide}
    for name, decide in variants.items():
        medians, p99s = [], []
        for repeat in range(args.repeats):
            reports = national.reports(cases, args.reports, seed=repeat)
            timings, outcomes = time_decisions(index, reports, decide)
            medians.append(round(statistics.median(timings), 2))
            p99s.append(round(percentile(timings, 99), 2))
            merges = sum(o.startswith("MergeIntoCase") for o in outcomes)
            result.setdefault(f"{name}_merge_share", round(merges / len(outcomes), 3))
        result[f"{name}_decide_us"] = medians
        result[f"{name}_decide_p99_us"] = p99s
    result["decide_us"] = result["current_decide_us"]
    result["decide_p99_us"] = result["current_decide_p99_us"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
