"""``make bench``: every benchmark on one fresh broker, results in bench/results/latest.{json,md}.

Sizes are flags so a quick check is possible (``python -m bench --quick``); the defaults are the published ones.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import machine, report, runs
from bench.stack import remove, temporary_stack

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--dispatch-findings", type=int, default=runs.Sizes.dispatch_findings)
    parser.add_argument("--latency-rate", type=float, default=runs.Sizes.latency_rate_per_s)
    parser.add_argument("--latency-seconds", type=float, default=runs.Sizes.latency_seconds)
    parser.add_argument("--single-requests", type=int, default=runs.Sizes.single_requests)
    parser.add_argument("--batch-findings", type=int, default=runs.Sizes.batch_findings)
    parser.add_argument("--scale-cases", type=int, default=runs.Sizes.scale_cases)
    parser.add_argument("--recovery-cases", type=int, default=runs.Sizes.recovery_cases)
    parser.add_argument("--deadline-cases", type=int, default=runs.Sizes.deadline_cases)
    parser.add_argument("--broker-tool-records", type=int, default=runs.Sizes.broker_tool_records)
    parser.add_argument("--codec-events", type=int, default=runs.Sizes.codec_events)
    parser.add_argument("--store-claims", type=int, default=runs.Sizes.store_claims)
    parser.add_argument("--store-callers", type=int, default=runs.Sizes.store_callers)
    parser.add_argument("--delivery-bodies", type=int, default=runs.Sizes.delivery_bodies)
    parser.add_argument("--only", default="",
                        help="comma-separated sections: broker,dispatch,ingest,latency,scale,fast_paths,delivery")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness (not for figures)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run directory (logs)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> runs.Sizes:
    if args.quick:
        return runs.Sizes.quick()
    return runs.Sizes(runs=args.runs, dispatch_findings=args.dispatch_findings,
                      latency_rate_per_s=args.latency_rate, latency_seconds=args.latency_seconds,
                      single_requests=args.single_requests, batch_findings=args.batch_findings,
                      scale_cases=args.scale_cases, recovery_cases=args.recovery_cases,
                      deadline_cases=args.deadline_cases,
                      broker_tool_records=args.broker_tool_records,
                      codec_events=args.codec_events,
                      store_claims=args.store_claims, store_callers=args.store_callers,
                      delivery_bodies=args.delivery_bodies)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    sections = [s for s in args.only.split(",") if s] or list(runs.SECTIONS)
    # SIGTERM (e.g. from make being stopped) must still stop the broker and every worker: unwind through finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    stack = temporary_stack(keep=args.keep)
    results: dict[str, Any] = {}
    with machine.LoadSampler() as load:
        try:
            bench = runs.Bench(stack, sizes, results, log=lambda line: print(line, flush=True))
            bench.run(sections)
        finally:
            remove(stack)
    document = report.build(results, sizes, sections, load.summary(), time.monotonic() - started,
                            kept_dir=str(stack.run_dir) if args.keep else None)
    # Only a full run with the published sizes updates the figures in docs/benchmarks.md.
    full = not args.quick and not args.only and args.output == RESULTS_DIR
    report.write(document, args.output, docs=report.DOCS if full else None)
    print(report.markdown(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
