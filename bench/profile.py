"""Profiles of the hot paths (not part of ``make bench``): ``python -m bench.profile [--findings N]``.

1. The dispatch service layer in-process (decode → Dispatcher.on_finding → encode): its rate, then a run under
   pyinstrument.
2. A real dispatch worker draining pre-loaded findings, sampled by py-spy (all threads).
3. The patrol service under single-request load, sampled by py-spy.

Writes bench/results/profile.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from pyinstrument import Profiler

from bench import data, flame, patrol
from bench.kafka_io import preload, wait_for_commit
from bench.machine import load_average
from bench.stack import BenchStack, remove, temporary_stack
from schemas.events import FindingReported
from services.common.envelope import Record, decode, encode
from services.common.kafka_admin import ensure_topics
from services.common.topics import FINDINGS
from services.dispatch.entrypoints.worker import TABLE_NAMES
from services.dispatch.service import Dispatcher
from services.reference.loader import load_reference_data

RESULTS = Path(__file__).resolve().parent / "results" / "profile.md"
PY_SPY = Path(__import__("sys").executable).with_name("py-spy")


def _drive(dispatcher: Dispatcher, items: list[tuple[str, Record]]) -> tuple[float, list[str]]:
    """What the agent does per finding, minus Kafka: decode, decide, encode every output. Findings per second."""
    emitted = []
    started = time.perf_counter()
    for key, record in items:
        _ce, finding = decode(record.headers, record.value, [FindingReported])
        for out in dispatcher.on_finding(finding, key):  # type: ignore[arg-type]
            encode(out.model, event_id=out.event_id, source="/dispatch", key=out.key, subject=out.key)
            emitted.append(out.event_id)
    return len(items) / (time.perf_counter() - started), emitted


def service_layer(count: int, runs: int) -> str:
    generated = data.findings(count, tag="profile")
    items = [(key, record) for (key, _f), record in zip(generated.items, generated.records(), strict=True)]
    reference = load_reference_data()
    def fresh() -> Dispatcher:
        return Dispatcher(reference, {n: {} for n in TABLE_NAMES})
    rates: list[float] = []
    loads: list[float] = []
    for _run in range(runs):
        rate, _emitted = _drive(fresh(), items)
        rates.append(round(rate, 1))
        loads.append(round(load_average(), 2))
    profiler = Profiler(interval=0.0005)
    profiler.start()
    _drive(fresh(), items)
    profiler.stop()
    tree = profiler.output_text(unicode=True, color=False, show_all=False)
    return "\n".join([
        f"## Service layer in-process ({count:,} findings, {runs} runs)", "",
        f"- {statistics.median(rates):,.0f} findings/s (runs {rates}); load average per run: {loads}", "",
        "pyinstrument, one run:", "", "```", _trim(tree, 70), "```", ""])


def _trim(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[:lines])


def _spy(pid: int, seconds: int, out: Path) -> flame.Profile:
    subprocess.run([str(PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds), "--format", "raw",
                    "--output", str(out), "--nonblocking", "--threads"], check=True, capture_output=True)
    return flame.load(out)


def worker(stack: BenchStack, count: int, seconds: int) -> str:
    stack.topic_prefix = "profile"
    ensure_topics(stack.bootstrap_servers, "profile")
    stack.ensure_referral_topics("profile")
    generated = data.findings(count, tag="worker-profile")
    preload(stack.bootstrap_servers, FINDINGS.name("profile"), list(generated.records()))
    stack.group_prefix = "bench-profile"
    process = stack.start_dispatch(name="dispatch-profile")
    profile = _spy(process.process.pid, seconds, stack.run_dir / "dispatch.spy")
    wait_for_commit(stack.bootstrap_servers, "bench-profile-dispatch", FINDINGS.name("profile"), count, 1200)
    logging_callers = flame.callers(stack.run_dir / "dispatch.spy", "Logger.debug (logging/__init__.py)")
    return "\n".join([f"## Dispatch worker under py-spy (first {seconds} s of draining {count:,} findings)", "",
                      flame.render(profile, 30), "", "Callers of `Logger.debug` (samples):", "",
                      *[f"- `{name}`: {samples}" for name, samples in logging_callers], ""])


def patrol_service(stack: BenchStack, requests: int, seconds: int) -> str:
    stack.topic_prefix = "profile-patrol"
    stack.extra_env = patrol.patrol_env(stack)
    ensure_topics(stack.bootstrap_servers, "profile-patrol")
    process = stack.start_patrol()
    patrol.single_requests(stack, 100, "profile-warm-up")
    spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(process.process.pid), "--duration", str(seconds),
                            "--format", "raw", "--output", str(stack.run_dir / "patrol.spy"), "--nonblocking",
                            "--threads"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = patrol.single_requests(stack, requests, "profile-single")
    spy.wait()
    return "\n".join([f"## Patrol service under py-spy ({seconds} s of single-request load, "
                      f"{load.accepted_per_s:,.0f} req/s)", "", flame.render(flame.load(stack.run_dir / "patrol.spy"),
                                                                             30), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--only", default="service,worker,patrol")
    args = parser.parse_args()
    only = set(args.only.split(","))
    sections = [f"# Profiles — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                "py-spy samples every thread; 'busy samples' leave out samples idle in the event loop's select().", ""]
    if "service" in only:
        sections.append(service_layer(args.findings, args.runs))
    if only & {"worker", "patrol"}:
        stack = temporary_stack()
        try:
            stack.start_broker()
            if "worker" in only:
                sections.append(worker(stack, args.findings, args.seconds))
                stack.stop_processes()
            if "patrol" in only:
                sections.append(patrol_service(stack, 2_000, min(args.seconds, 30)))
        finally:
            remove(stack)
    out = RESULTS if only >= {"service", "worker", "patrol"} else RESULTS.with_name(
        f"profile-{'-'.join(sorted(only))}.md")
    out.write_text("\n".join(sections))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
