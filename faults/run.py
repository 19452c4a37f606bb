"""`python -m faults [--short] [--cluster | --single] [--only NAME ...] [--report PATH] [--keep]`: run the fault
scenarios, write the report.

Starts its own broker (free ports, a temporary directory) and the real services — two dispatch workers in one consumer
group, the info_share worker and API, patrol — then runs each scenario while findings flow through the patrol HTTP API,
and checks the invariants on the recorded history after each. Then the same on a local three-node cluster for the
cluster scenarios (faults/cluster.py). ``--single`` runs only the first part, ``--cluster`` only the second. Every
process it started is stopped, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from deploy.local_stack import ROOT, Stack
from faults.cluster import CLUSTER_SCENARIOS, NEEDS_NETNS, NEEDS_SMALL_DISK
from faults.history import History, case_events, check
from faults.load import Driver, days_ago, plan_day
from faults.netns import NetworkNamespace
from faults.scenarios import DISPATCH, INFO_SHARE, SCENARIOS, Context, Scenario
from faults.small_disk import SmallVolume
from scripts.run_demo import tokens_for
from services.common.kafka_admin import ensure_topics
from services.reference.loader import load_reference_data
from tests.dispatch_fixtures import decisions

SESSION_TIMEOUT_SECONDS = 6.0


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(130)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="smaller volumes (CI): every scenario")
    parser.add_argument("--only", nargs="*", help="run only these scenarios (by name)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--cluster", action="store_true",
                       help="only the cluster scenarios (on a local three-node cluster)")
    which.add_argument("--single", action="store_true", help="only the scenarios on the single broker")
    parser.add_argument("--report", default=str(ROOT / "build" / "faults-report.json"))
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs, broker data)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    parts = []
    if not args.cluster:
        parts.append((1, [(n, s) for n, s in SCENARIOS if not args.only or n in args.only]))
    if not args.single:
        parts.append((3, [(n, s) for n, s in CLUSTER_SCENARIOS if not args.only or n in args.only]))
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    part_reports: list[dict[str, Any]] = []
    selected = 0
    for brokers, scenarios in parts:
        if not scenarios:
            continue
        selected += len(scenarios)
        part = _run_part(brokers, scenarios, args.short, args.keep)
        results += part.pop("results")
        part_reports.append(part)
    elapsed = time.monotonic() - started
    passed = sum(r["passed"] for r in results)
    lost = sum(r["lost"] for r in results)
    duplicated = sum(r["duplicated_cases"] + r["duplicated_referrals"] + r["decided_twice"] for r in results)
    aborted = next((p["aborted"] for p in part_reports if p["aborted"]), None)
    ok = aborted is None and passed == len(results) == selected
    report = {"mode": "short" if args.short else "full", "seconds": round(elapsed, 1), "passed": ok,
              "scenarios": results, "aborted": aborted, "parts": part_reports,
              "session_timeout_seconds": SESSION_TIMEOUT_SECONDS, "dispatch_workers": len(DISPATCH)}
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    kept = [p["run_dir"] for p in part_reports if p["run_dir"]]
    print(f"faults: {len(results)} scenarios, {passed} passed, {lost} lost, {duplicated} duplicated "
          f"({elapsed:.0f}s{', aborted: ' + aborted if aborted else ''}; report {args.report}"
          f"{'; logs in ' + ', '.join(kept) if kept else ''})", flush=True)
    return 0 if ok else 1


def _run_part(brokers: int, selected: list[tuple[str, Scenario]], short: bool, keep: bool) -> dict[str, Any]:
    """One stack (a single broker, or a three-node cluster) and its scenarios; the run directory is removed after a
    passing run unless ``keep``."""
    what = "broker" if brokers == 1 else f"{brokers}-node cluster"
    run_dir = Path(tempfile.mkdtemp(prefix="liandong-faults-" + ("" if brokers == 1 else "cluster-")))
    started = time.monotonic()
    skipped: dict[str, str] = {}
    netns: NetworkNamespace | None = None
    if any(n in NEEDS_NETNS for n, _s in selected):
        why_not = NetworkNamespace.available()
        if why_not is None:
            netns = NetworkNamespace.for_run(os.getpid()).create()
        else:
            skipped = {n: f"no network namespace: {why_not}" for n, _s in selected if n in NEEDS_NETNS}
            selected = [(n, s) for n, s in selected if n not in skipped]
    volume: SmallVolume | None = None
    if any(n in NEEDS_SMALL_DISK for n, _s in selected):
        why_not = SmallVolume.available()
        if why_not is None:
            # The last node's data directory (Stack puts the cluster in <run_dir>/kafka-cluster/node-<id>).
            volume = SmallVolume(run_dir / "small-disk.img", run_dir / "kafka-cluster" / f"node-{brokers}").create()
        else:
            skipped |= {n: f"no loop-mounted volume: {why_not}" for n, _s in selected if n in NEEDS_SMALL_DISK}
            selected = [(n, s) for n, s in selected if n not in skipped]
    stack = Stack(run_dir, inherit_settings=False, brokers=brokers,
                  broker_host=netns.host_ip if netns else "127.0.0.1", extra_env={
        "LIANDONG_SESSION_TIMEOUT_SECONDS": str(SESSION_TIMEOUT_SECONDS),
        "LIANDONG_PUBLISH_TIMEOUT_SECONDS": "3",
        "LIANDONG_RETRY_AFTER_SECONDS": "1",
        "LIANDONG_RATE_LIMIT_PER_MINUTE": "1000000",
        "LIANDONG_RATE_LIMIT_BURST": "100000",
        "LIANDONG_PATROL_STORE_URL": f"sqlite:///{run_dir / 'patrol.db'}",
        "LIANDONG_AUDIT_LOG_PATH": str(run_dir / "audit.jsonl"),
    })
    results: list[dict[str, Any]] = []
    failed_to_run: str | None = None
    ctx: Context | None = None
    try:
        print(f"faults: starting the {what} and services in {run_dir} ...", flush=True)
        stack.start_broker()
        ensure_topics(stack.bootstrap_servers, stack.topic_prefix)
        reference = load_reference_data()
        history = History()
        every_principal = plan_day(reference, days_ago(1), seed=1, short=False)
        tokens = tokens_for(stack, [p.item for p in every_principal])
        driver = Driver(f"http://127.0.0.1:{stack.patrol_port}", tokens, history)
        ctx = Context(stack, history, driver, reference, short, SESSION_TIMEOUT_SECONDS, netns=netns,
                      small_disk=volume.mount_point if volume else None)
        for name in (INFO_SHARE, *DISPATCH, "info-share-api", "patrol"):
            ctx.start(name)
        # Warm-up: the group settles and there are cases and referrals for the later scenarios to work on.
        driver.run("warm_up", ctx.plan(), ctx.duration)
        check(stack.bootstrap_servers, stack.topic_prefix, stack.database_url, history.for_scenario("warm_up"), 180,
              heal=ctx.heal)
        print(f"faults: stack up, warm-up done ({time.monotonic() - started:.0f}s)", flush=True)
        for name, scenario in selected:
            begun = time.monotonic()
            outcome = scenario(ctx, name)
            outcome.notes += ctx.heal()
            figures = check(stack.bootstrap_servers, stack.topic_prefix, stack.database_url,
                            history.for_scenario(name), 240, skew_check=outcome.skew_check,
                            heal=lambda notes=outcome.notes: notes.extend(ctx.heal()))
            refused = [r for r in driver.refused if r[0]]
            driver.refused.clear()
            result = {"name": name, "brokers": brokers, "injected": outcome.injected, **figures, **outcome.extra,
                      "failures": outcome.failures, "notes": outcome.notes,
                      "refused_submissions": [f"{cid}: {status} {detail[:160]}" for cid, status, detail in refused[:5]],
                      "seconds": round(time.monotonic() - begun, 1)}
            if refused:
                result["failures"].append(f"{len(refused)} submissions never acknowledged (see refused_submissions)")
            result["passed"] = bool(figures["passed"] and not result["failures"])
            results.append(result)
            print(f"  {name}: {'PASS' if result['passed'] else 'FAIL'} — {figures['acknowledged']} acknowledged, "
                  f"{figures['lost']} lost, {figures['duplicated_cases']} duplicated cases, "
                  f"{figures['duplicated_referrals']} duplicated referrals ({result['seconds']}s)"
                  + ("" if result["passed"] else f" {result['failures']} {figures['checks']}"), flush=True)
        # Were the "lost" ones only late? Decided since (by a later rebalance) means stuck, not lost: still a failure.
        late = decisions(case_events(stack.bootstrap_servers, stack.topic_prefix))
        for result in results:
            if result.get("lost_ids"):
                result["lost_but_decided_by_end_of_run"] = sum(1 for fid in result["lost_ids"] if late.get(fid))
    except BaseException as exc:
        failed_to_run = f"{type(exc).__name__}: {exc}"
        print(f"faults: aborted: {failed_to_run}", file=sys.stderr, flush=True)
    finally:
        _stop_everything(stack, ctx)
        if netns is not None:
            netns.delete()
        if volume is not None:
            volume.delete()
    for name, why in skipped.items():
        print(f"  {name}: SKIPPED — {why}", flush=True)
    ok = failed_to_run is None and all(r["passed"] for r in results) and len(results) == len(selected)
    if ok and not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"brokers": brokers, "results": results, "aborted": failed_to_run, "skipped": skipped,
            "seconds": round(time.monotonic() - started, 1), "run_dir": None if ok and not keep else str(run_dir)}


def _stop_everything(stack: Stack, ctx: Context | None) -> None:
    every = list(ctx.started) if ctx else []
    every += [m for m in stack.processes.values() if m not in every]
    for managed in every:  # a frozen process cannot act on SIGTERM
        if managed.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                managed.process.send_signal(signal.SIGCONT)
    stack.stop()
    for managed in every:
        if managed.process.poll() is None:
            managed.kill()
