"""Each service's own tests with the other services unimportable, then the shared tests; then each service started
alone (``make test-alone``).

    python -m tests.by_service                    # every service group, then shared, then the start checks
    python -m tests.by_service --only dispatch    # one group (repeatable); --only cross-service runs those unblocked
    python -m tests.by_service --tiers unit,integration   # only the files under tests/unit and tests/integration
    python -m tests.by_service --list             # the ownership map (tests/ownership.py)
    python -m tests.by_service --no-starts | --starts-only

The map is checked first: a test file in no group or in two fails the run. Each group is one pytest process with
``ALONE_SERVICE=<group>`` and the ``tests.alone`` plugin (tests/blocker.py: ``services.<other service>`` raises
``ModuleNotFoundError``, in that process and in every process its tests start); ``shared`` runs with every service
blocked. The start checks run each service's processes, as deploy/local_stack.py starts them (``python -m
services.<service>`` and its workers), on a broker of their own with the blocker on, wait until each is healthy
(its /healthz or /metrics), keep it up a few seconds, and stop it with SIGTERM. Logs and JUnit files go to
build/alone/; the exit status is non-zero when any group or start check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests import ownership
from tests.blocker import ENV, SERVICES

ROOT = ownership.ROOT
BUILD = ROOT / "build" / "alone"
STAY_UP_SECONDS = 3.0


@dataclass
class GroupResult:
    group: str
    files: int
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    deselected: int = 0
    seconds: float = 0.0
    returncode: int = 0
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode in (0, 5) and not self.failed and not self.errors  # 5: nothing collected


@dataclass
class StartResult:
    service: str
    ok: bool
    processes: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


def environment(group: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])  # the root sitecustomize.py: every child blocks too
    if group == ownership.CROSS:
        env.pop(ENV, None)
    else:
        env[ENV] = ownership.SHARED if group == ownership.SHARED else group
    return env


def select(files: list[str], tiers: list[str] | None) -> list[str]:
    return [f for f in files if not tiers or any(f.startswith(f"tests/{tier}/") for tier in tiers)]


def run_group(group: str, tiers: list[str] | None, pytest_args: list[str]) -> GroupResult:
    files = select(ownership.files_of(group), tiers)
    result = GroupResult(group, len(files))
    if not files:
        print(f"\n=== {group}: no test files{' in ' + ','.join(tiers) if tiers else ''}", flush=True)
        return result
    BUILD.mkdir(parents=True, exist_ok=True)
    junit = BUILD / f"{group}.xml"
    log = BUILD / f"{group}.log"
    deselect = [arg for node in ownership.deselected_from(group) if node.split("::")[0] in files
                for arg in ("--deselect", node)]
    command = [sys.executable, "-m", "pytest", "-p", "tests.alone", "--basetemp", f"/tmp/pt-alone-{group}",
               f"--junitxml={junit}", "--continue-on-collection-errors", *deselect, *pytest_args, *files]
    print(f"\n=== {group}: {len(files)} files, {ENV}={environment(group).get(ENV, '(unset)')}", flush=True)
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=environment(group), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            sys.stdout.write(line)
            found = re.search(r"(\d+) deselected", line)  # the summary line's: CROSS_TESTS and the faults marker
            if found and line.startswith("="):
                result.deselected = int(found.group(1))
        result.returncode = process.wait()
    result.seconds = round(time.monotonic() - started, 1)
    result.log = str(log.relative_to(ROOT))
    if junit.exists():
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")  # type: ignore[assignment]
        tests = int(suite.get("tests", 0))
        result.failed, result.errors, result.skipped = (int(suite.get(k, 0)) for k in ("failures", "errors",
                                                                                      "skipped"))
        result.passed = tests - result.failed - result.errors - result.skipped
    elif result.returncode not in (0, 5):
        result.errors = 1
    return result


# -- each service started alone ---------------------------------------------------------------------------------------

def _starts(stack: object) -> dict[str, list[tuple[str, Callable[[], object]]]]:
    """Each service's processes, started the way the local stack starts them (deploy/local_stack.py)."""
    s = stack
    return {
        "patrol": [("patrol", s.start_patrol), ("patrol-case-views", s.start_patrol_case_views)],  # type: ignore
        "dispatch": [("dispatch", s.start_dispatch), ("relay", s.start_relay)],  # type: ignore
        "info_share": [("info-share-worker", s.start_info_share_worker),  # type: ignore
                       ("info-share-api", s.start_info_share_api)],  # type: ignore
        "workbench": [("workbench", s.start_workbench)],  # type: ignore
        "monitor": [("lag-exporter", s.start_lag_exporter)],  # type: ignore
    }


def _stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> str:
    if process.poll() is not None:
        return f"had exited ({process.returncode})"
    os.killpg(process.pid, signal.SIGTERM)
    started = time.monotonic()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        return f"did not stop on SIGTERM within {grace:.0f}s (killed)"
    return f"stopped on SIGTERM in {time.monotonic() - started:.1f}s (exit {process.returncode})"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def blocker_self_check(env: dict[str, str]) -> str | None:
    """A child started as the stack starts its processes must find another service unimportable."""
    probe = subprocess.run([sys.executable, "-c", "import services.patrol"], cwd=ROOT, capture_output=True, text=True,
                           env={**env, ENV: "dispatch"}, timeout=60)
    if probe.returncode == 0 or "BlockedServiceImport" not in probe.stderr:
        return f"the blocker is not in effect in a child process: exit {probe.returncode}, {probe.stderr[-300:]}"
    return None


def run_starts(services: list[str]) -> list[StartResult]:
    from deploy.kafka.local_kafka import LocalKafka, free_port
    from deploy.local_stack import Stack
    from services.reference.loader import load_reference_data

    run_root = Path(f"/tmp/pt-alone-starts-{os.getpid()}")
    shutil.rmtree(run_root, ignore_errors=True)
    print(f"\n=== starts alone: {', '.join(services)} (logs under {run_root})", flush=True)
    broker = LocalKafka(run_root / "kafka", port=free_port(), controller_port=free_port())
    results: list[StartResult] = []
    broker.start()
    try:
        base = Stack(run_root / "topics", bootstrap_servers=broker.bootstrap_servers, topic_prefix="alone",
                     group_prefix="alone", inherit_settings=False)
        problem = blocker_self_check(base.env)
        if problem:
            return [StartResult(s, False, detail=problem) for s in services]
        base.prepare_topics()  # as the stack does before any process starts (dispatch reads its changelogs)
        for service in services:
            stack = Stack(run_root / service, bootstrap_servers=broker.bootstrap_servers, topic_prefix="alone",
                          group_prefix=f"alone-{service}", inherit_settings=False, extra_env={ENV: service})
            result = StartResult(service, True)
            started = time.monotonic()
            try:
                if service == "teams":
                    body = load_reference_data().bodies()[0].body_id
                    for args in (["--help"], ["--body", body, "watch", "--idle-timeout-seconds", "3"]):
                        done = subprocess.run([sys.executable, "-m", "services.teams", *args], cwd=ROOT,
                                              env=stack.env, capture_output=True, text=True, timeout=120)
                        name = "python -m services.teams " + " ".join(args)
                        result.processes.append(f"{name}: exit {done.returncode}")
                        if done.returncode != 0:
                            result.ok = False
                            result.detail = done.stderr[-1500:]
                else:
                    for name, start in _starts(stack)[service]:
                        managed = start()
                        time.sleep(STAY_UP_SECONDS)
                        alive = managed.process.poll() is None  # type: ignore[attr-defined]
                        stopped = _stop(managed.process)  # type: ignore[attr-defined]
                        result.processes.append(f"{name}: healthy, {'up' if alive else 'EXITED'} after "
                                                f"{STAY_UP_SECONDS:.0f}s, {stopped}")
                        if not alive or "killed" in stopped:
                            result.ok = False
                            result.detail = _tail(managed.log_path)  # type: ignore[attr-defined]
            except Exception as exc:  # not ready in time, or exited: its log says why
                result.ok = False
                logs = sorted((run_root / service / "logs").glob("*.log"))
                result.detail = f"{type(exc).__name__}: {exc}\n" + (_tail(logs[-1]) if logs else "")
            finally:
                stack.stop()
            result.seconds = round(time.monotonic() - started, 1)
            results.append(result)
            print(f"  {service}: {'ok' if result.ok else 'FAILED'} ({result.seconds}s)", flush=True)
            for line in result.processes:
                print(f"    {line}", flush=True)
            if result.detail and not result.ok:
                print("    " + result.detail.replace("\n", "\n    "), flush=True)
    finally:
        broker.stop()
    shutil.rmtree(run_root, ignore_errors=True)
    return results


# -- the command ------------------------------------------------------------------------------------------------------

def print_map() -> None:
    for group in ownership.GROUPS:
        files = ownership.files_of(group)
        print(f"{group} ({len(files)} files)")
        for path in files:
            print(f"  {path}")
        for node in ownership.deselected_from(group):
            print(f"  - {node}  (deselected here: {ownership.CROSS_TESTS[node]})")
    for group in ownership.GROUPS:
        print(f"{group:>14}: {len(ownership.files_of(group))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=list(ownership.GROUPS), help="run just this group")
    parser.add_argument("--list", action="store_true", help="print the ownership map and exit")
    parser.add_argument("--tiers", help="comma-separated directories under tests/ to keep (e.g. unit,integration)")
    parser.add_argument("--no-starts", action="store_true", help="skip the starts-alone checks")
    parser.add_argument("--starts-only", action="store_true", help="only the starts-alone checks")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)

    problems = ownership.problems()
    if problems:
        print("tests/ownership.py: every test file must be in exactly one group", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.list:
        print_map()
        return 0
    tiers = args.tiers.split(",") if args.tiers else None
    groups = args.only or [*SERVICES, ownership.SHARED]
    started = time.monotonic()
    results = [] if args.starts_only else [run_group(g, tiers, args.pytest_args) for g in groups]
    start_services = [s for s in (args.only or SERVICES) if s in SERVICES]
    starts = [] if args.no_starts or not start_services else run_starts(start_services)
    total = round(time.monotonic() - started, 1)

    print("\n=== by service: each group with the other services unimportable")
    print(f"{'group':<14}{'files':>6}{'passed':>8}{'failed':>8}{'errors':>8}{'skipped':>9}{'desel.':>8}{'seconds':>9}")
    for r in results:
        print(f"{r.group:<14}{r.files:>6}{r.passed:>8}{r.failed:>8}{r.errors:>8}{r.skipped:>9}{r.deselected:>8}"
              f"{r.seconds:>9}  {'ok' if r.ok else 'FAILED'}")
    for s in starts:
        print(f"starts alone: {s.service:<11} {'ok' if s.ok else 'FAILED'} ({s.seconds}s)")
    print(f"total {total}s")
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "summary.json").write_text(json.dumps(
        {"groups": [asdict(r) for r in results], "starts": [asdict(s) for s in starts], "seconds": total,
         "tiers": tiers}, indent=2))
    return 0 if all(r.ok for r in results) and all(s.ok for s in starts) else 1


if __name__ == "__main__":
    sys.exit(main())
