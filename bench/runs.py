"""The benchmark sections, each run ``sizes.runs`` times on the same broker; results are Figures by key."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import data, fast_paths, kafka_tools, patrol, recovery
from bench.dispatch import run_dispatch, run_passthrough
from bench.kafka_io import bare_producer_rate, preload
from bench.machine import load_average
from bench.stack import BenchStack
from bench.stats import Figure
from deploy.local_stack import ROOT
from services.common.kafka_admin import ensure_topics
from services.common.topics import FINDINGS, TopicSpec

SECTIONS = ("broker", "dispatch", "ingest", "latency", "scale", "fast_paths", "delivery")
RECORD_SIZE_BYTES = 700  # a FindingReported record: ~560 bytes of JSON body plus ~140 bytes of ce_ headers


@dataclass(frozen=True)
class Sizes:
    # The defaults keep a whole `make bench` near 20 minutes on the 2-core machine (see docs/benchmarks.md).
    runs: int = 3
    dispatch_findings: int = 100_000
    latency_rate_per_s: float = 500.0
    latency_seconds: float = 60.0
    sustainable_seconds: float = 20.0  # e2e latency again at 80 % of the measured single-request capacity
    single_requests: int = 1_500
    batch_findings: int = 10_000
    scale_cases: int = 1_000_000
    recovery_cases: int = 1_000_000
    deadline_cases: int = 200_000
    broker_tool_records: int = 100_000
    codec_events: int = 20_000  # FindingReported events encoded and decoded by each codec per run
    store_claims: int = 2_000  # claims (each followed by its acknowledgement) per store per run
    store_callers: int = 32
    delivery_bodies: int = 0  # national bodies given their two topics (section delivery); 0: as many as fit

    @classmethod
    def quick(cls) -> Sizes:
        return cls(runs=3, dispatch_findings=3_000, latency_rate_per_s=50, latency_seconds=10, sustainable_seconds=5,
                   single_requests=300, batch_findings=2_000, scale_cases=20_000, recovery_cases=5_000,
                   deadline_cases=5_000,
                   broker_tool_records=20_000, codec_events=2_000, store_claims=300, delivery_bodies=2_000)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Bench:
    def __init__(self, stack: BenchStack, sizes: Sizes, results: dict[str, Any], log: Callable[[str], None]):
        self.stack = stack
        self.sizes = sizes
        self.results = results
        self.log = log
        self.figures: dict[str, Figure] = {}
        results["figures"] = self.figures
        results["context"] = {}

    def figure(self, key: str, unit: str) -> Figure:
        return self.figures.setdefault(key, Figure(key, unit))

    def record(self, key: str, unit: str, value: float) -> None:
        self.figure(key, unit).add(value, load_average())
        self.log(f"  {key}: {value:,.2f} {unit} (load average {load_average():.2f})")

    def run(self, sections: list[str]) -> None:
        self.log(f"starting a broker in {self.stack.run_dir}")
        self.stack.start_broker()
        for section in SECTIONS:
            if section in sections:
                self.log(f"== {section}")
                getattr(self, f"section_{section}")()
                self.stack.stop_processes()

    # -- the broker's own limit ------------------------------------------------------------------------------

    def section_broker(self) -> None:
        topic = "bench.broker-perf"
        ensure_topics(self.stack.bootstrap_servers, "bench", specs=(),
                      extra=[(topic, TopicSpec("broker-perf", FINDINGS.partitions, "none", "perf tools"))])
        n = self.sizes.broker_tool_records
        for run in range(self.sizes.runs):
            self.record("broker_producer_msgs_per_s", "msg/s",
                        kafka_tools.producer_performance(self.stack.bootstrap_servers, topic, n, RECORD_SIZE_BYTES))
            consumed = kafka_tools.consumer_performance(self.stack.bootstrap_servers, topic, n, f"bench-perf-{run}")
            self.record("broker_consumer_msgs_per_s", "msg/s", consumed["fetch_msgs_per_s"])
            joined = self.figure("broker_consumer_msgs_per_s", "msg/s").extra
            joined.setdefault("with_group_join_msgs_per_s", []).append(consumed["msgs_per_s"])

    # -- dispatch against the passthrough --------------------------------------------------------------------

    def section_dispatch(self) -> None:
        stack, n = self.stack, self.sizes.dispatch_findings
        stack.topic_prefix = "bench"
        passthrough_topic = "bench.passthrough"
        ensure_topics(stack.bootstrap_servers, "bench",
                      extra=[(passthrough_topic, TopicSpec("passthrough", FINDINGS.partitions, "same", "bench"))])
        stack.ensure_referral_topics("bench")
        self.log(f"  generating {n:,} findings with the sample-day generator and the patrol intake")
        generated = data.findings(n, tag="dispatch")
        records = list(generated.records())
        self.results["context"]["dispatch_data"] = {
            "findings": n, "violations": generated.violations,
            "repeat_share": round(1 - generated.violations / n, 3), "refused_by_intake": generated.refused,
            "townships": len({f.township_code for _k, f in generated.items}),
            "categories": len({f.category_code for _k, f in generated.items}),
            "mean_record_bytes": round(sum(len(r.value) + sum(len(k) + len(v) for k, v in r.headers)
                                           for r in records) / n),
        }
        rate = preload(stack.bootstrap_servers, FINDINGS.name("bench"), records)
        self.log(f"  pre-loaded {n:,} findings ({rate:,.0f}/s)")
        del records, generated
        for run in range(self.sizes.runs):
            # Interleaved, so a disturbance from outside hits both sides of the comparison alike.
            passthrough = run_passthrough(stack, n, passthrough_topic)
            self.record("passthrough_msgs_per_s", "msg/s", passthrough)
            # The older baseline, one send() per record: how much of the limit the outbox itself buys.
            self.record("passthrough_send_per_record_msgs_per_s", "msg/s",
                        run_passthrough(stack, n, passthrough_topic, batched=False))
            result = run_dispatch(stack, n, f"dispatch-{run}")
            self.record("dispatch_findings_per_s", "findings/s", result.findings_per_s)
            # The same loop writing as many records per input as dispatch did: the limit for dispatch's output
            # volume on this machine (the broker shares its 2 cores), with no decoding and no decisions.
            self.record("passthrough_amplified_msgs_per_s", "input msg/s",
                        run_passthrough(stack, n, passthrough_topic, copies=result.records_per_finding))
            self.figure("passthrough_amplified_msgs_per_s", "input msg/s").extra.setdefault(
                "records_per_input", []).append(round(result.records_per_finding, 2))
            self.record("dispatch_second_half_findings_per_s", "findings/s",
                        result.span.second_half_rate_per_s(n))
            fig = self.figure("dispatch_findings_per_s", "findings/s")
            fig.extra.setdefault("case_events_written", []).append(result.span.records)
            fig.extra.setdefault("ratio_per_run", []).append(round(result.findings_per_s / passthrough, 3))

    # -- ingestion ---------------------------------------------------------------------------------------------

    def section_ingest(self) -> None:
        stack = self.stack
        stack.topic_prefix = "ingest"
        stack.extra_env = patrol.patrol_env(stack)
        ensure_topics(stack.bootstrap_servers, "ingest")
        stack.start_patrol()
        patrol.single_requests(stack, 200, "warm-up")
        baseline = list(data.findings(self.sizes.batch_findings, tag="bare").records())
        for run in range(self.sizes.runs):
            self.record("bare_producer_msgs_per_s", "msg/s",
                        bare_producer_rate(stack.bootstrap_servers, FINDINGS.name("ingest"), baseline))
            single = patrol.single_requests(stack, self.sizes.single_requests, f"single-{run}")
            self._check(single, "single")
            self.record("ingest_single_requests_per_s", "req/s", single.accepted_per_s)
            self.figure("ingest_single_requests_per_s", "req/s").extra.setdefault("runs_detail", []).append(
                single.summary())
            batch = patrol.batches(stack, self.sizes.batch_findings, f"batch-{run}")
            self._check(batch, "batch")
            self.record("ingest_batch_findings_per_s", "findings/s", batch.accepted_per_s)
            self.figure("ingest_batch_findings_per_s", "findings/s").extra.setdefault("runs_detail", []).append(
                batch.summary())

    def _check(self, result: patrol.LoadResult, what: str) -> None:
        if result.accepted_items < 0.95 * result.sent:
            self.log(f"  warning: {what}: only {result.accepted_items} of {result.sent} accepted: "
                     f"{dict(result.statuses)} {dict(result.item_outcomes)}")

    # -- end-to-end latency --------------------------------------------------------------------------------------

    def section_latency(self) -> None:
        stack = self.stack
        stack.topic_prefix = "e2e"
        stack.group_prefix = "bench-e2e"
        stack.extra_env = patrol.patrol_env(stack)
        ensure_topics(stack.bootstrap_servers, "e2e")
        stack.ensure_referral_topics("e2e")
        stack.start_dispatch(name="dispatch-e2e")
        stack.start_patrol()
        group = f"{stack.group_prefix}-dispatch"
        # Warm-up at a low rate: first connections, the producer, and dispatch's first use of each body's topic.
        patrol.latency_run(stack, min(100.0, self.sizes.latency_rate_per_s), 5, "warm-up", group)
        rate, seconds = self.sizes.latency_rate_per_s, self.sizes.latency_seconds
        for run in range(self.sizes.runs):
            self._latency_run(rate, seconds, f"e2e-{run}", group, "e2e")
        single = self.figures.get("ingest_single_requests_per_s")
        if self.sizes.sustainable_seconds and single is not None and single.median:
            # The same measure at a rate this machine sustains, so latency and capacity are not confounded.
            sustainable = round(0.8 * min(single.median, rate), 1)
            for run in range(self.sizes.runs):
                self._latency_run(sustainable, self.sizes.sustainable_seconds, f"e2e-sustainable-{run}", group,
                                  "e2e_sustainable")
            self.figure("e2e_sustainable_latency_p99_s", "s").notes.append(
                f"offered {sustainable}/s: 80 % of the median single-request capacity measured in this run")

    def _latency_run(self, rate: float, seconds: float, tag: str, group: str, key: str) -> None:
        result = patrol.latency_run(self.stack, rate, seconds, tag, group)
        if not result.latencies_s:
            raise RuntimeError("no referral to a team came out of the latency run")
        summary = patrol.latency_summary(result.latencies_s)
        self.record(f"{key}_latency_p50_s", "s", summary["p50_s"])
        self.record(f"{key}_latency_p99_s", "s", summary["p99_s"])
        self.record(f"{key}_achieved_findings_per_s", "findings/s", result.load.accepted_per_s)
        http = patrol.latency_summary(result.load.response_seconds)
        detail = {"offered_per_s": rate, **result.load.summary(), "referrals_measured": summary["referrals"],
                  "e2e_max_s": round(summary["max_s"], 3), "http_p50_s": round(http["p50_s"], 4),
                  "http_p99_s": round(http["p99_s"], 4),
                  "send_lag_at_end_s": round(result.load.last_send_lag_seconds, 2)}
        self.figure(f"{key}_latency_p99_s", "s").extra.setdefault("runs_detail", []).append(detail)
        self.log(f"  {tag}: {json.dumps(detail)}")

    # -- national scale ----------------------------------------------------------------------------------------

    def section_scale(self) -> None:
        sizes = self.sizes
        self.log(f"  dedup index with {sizes.scale_cases:,} open cases over every township-level unit (subprocess)")
        out = subprocess.run(
            [sys.executable, "-m", "bench.scale_index", "--cases", str(sizes.scale_cases), "--repeats",
             str(sizes.runs)], capture_output=True, text=True, cwd=ROOT, env=self.stack.env, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"bench.scale_index failed:\n{out.stderr[-3000:]}")
        index = json.loads(out.stdout.strip().splitlines()[-1])
        self.results["context"]["scale_index"] = index
        for value in index["current_decide_us"]:
            self.record("scale_decide_us", "µs", value)
        self.record("scale_rss_bytes", "bytes", index["rss_bytes"])
        self.figure("scale_rss_bytes", "bytes").notes.append(
            f"one build of {index['cases']:,} cases ({index['members']:,} members) in a fresh process; the index "
            f"itself is {index['index_rss_bytes']:,} bytes above the process's {index['baseline_rss_bytes']:,}")
        self._deadline_tick()
        self._recovery()

    def _deadline_tick(self) -> None:
        """One deadline tick of a worker holding N cases' whole state: the deadline index against the scan of
        every referral it replaced, in the same child process, on the same tables."""
        cases = self.sizes.deadline_cases
        self.log(f"  deadline tick over the whole state of {cases:,} open cases (subprocess)")
        out = subprocess.run([sys.executable, "-m", "bench.deadline_tick", "--cases", str(cases), "--repeats",
                              str(max(3, self.sizes.runs))], capture_output=True, text=True, cwd=ROOT,
                             env=self.stack.env, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"bench.deadline_tick failed:\n{out.stderr[-3000:]}")
        tick = json.loads(out.stdout.strip().splitlines()[-1])
        self.results["context"]["deadline_tick"] = tick
        for kind in ("quiet", "due"):
            for value in tick[kind]["index_ms"]:
                self.record(f"scale_deadline_tick_{kind}_ms", "ms", value)
            for value in tick[kind]["scan_ms"]:
                self.record(f"scale_deadline_tick_{kind}_scan_ms", "ms", value)
            self.figure(f"scale_deadline_tick_{kind}_ms", "ms").notes.append(
                f"{tick[kind]['found']:,} referrals found of {tick['watched']:,} watched, {tick['referrals']:,} "
                f"referrals in all")

    def _recovery(self) -> None:
        stack, cases = self.stack, self.sizes.recovery_cases
        stack.topic_prefix = "scale"
        stack.group_prefix = "bench-scale"
        ensure_topics(stack.bootstrap_servers, "scale")
        loaded = recovery.load_changelogs(stack, cases)
        self.log(f"  changelogs: {loaded['records']:,} records for {cases:,} open cases in {loaded['seconds']}s")
        factor = self.sizes.scale_cases / cases
        for run in range(self.sizes.runs):
            result = recovery.recover_once(stack, f"recovery-{run}")
            if result.open_cases != cases:
                raise RuntimeError(f"the worker rebuilt {result.open_cases} open cases, {cases} were written")
            self.record("scale_recovery_measured_s", "s", result.seconds)
            self.record("scale_recovery_s", "s", result.extrapolated_seconds(factor))
            self.record("scale_worker_rss_measured_bytes", "bytes", result.rss_bytes)
            phases = self.figure("scale_recovery_measured_s", "s").extra
            for phase in ("startup_seconds", "reading_seconds", "rebuild_seconds"):
                phases.setdefault(phase, []).append(round(getattr(result, phase), 2))
        if factor != 1:
            self.figure("scale_recovery_s", "s").notes.append(
                f"EXTRAPOLATED from {cases:,} open cases ({loaded['records']:,} changelog records) to "
                f"{self.sizes.scale_cases:,}: worker start-up counted once, reading the changelogs and rebuilding "
                f"the index multiplied by {factor:g} (both are linear in records and cases)")
            self.figure("scale_worker_rss_measured_bytes", "bytes").notes.append(
                f"a real dispatch worker right after recovering {cases:,} open cases: the in-memory tables "
                f"(the changelog rows as dicts) plus the dedup index")
        self.results["context"]["recovery"] = {"cases": cases, "changelog_records": loaded["records"],
                                               "extrapolation_factor": factor}
        self._recovery_full_state()

    def _recovery_full_state(self) -> None:
        # The same open cases with every row a worker holds for them — case files, referrals, overdue notices
        # beside the dedup rows — on changelogs of their own (another group prefix), on the same broker.
        stack, cases = self.stack, self.sizes.recovery_cases
        stack.group_prefix = "bench-scale-full"
        loaded = recovery.load_full_state(stack, cases)
        self.log(f"  whole-state changelogs: {loaded['records']:,} records ({loaded['value_bytes'] / 2**20:,.0f} MiB "
                 f"of values) for {cases:,} open cases, generated and written in {loaded['seconds']}s: "
                 f"{loaded['records_by_table']}")
        for run in range(self.sizes.runs):
            result = recovery.recover_once(stack, f"recovery-full-{run}")
            if result.open_cases != cases:
                raise RuntimeError(f"the worker rebuilt {result.open_cases} open cases, {cases} were written")
            if result.records_read != loaded["records"]:
                raise RuntimeError(f"the worker read {result.records_read} changelog records, {loaded['records']} "
                                   "were written")
            self.record("scale_recovery_full_state_s", "s", result.seconds)
            self.record("scale_worker_rss_full_state_bytes", "bytes", result.rss_bytes)
            phases = self.figure("scale_recovery_full_state_s", "s").extra
            for phase in ("startup_seconds", "reading_seconds", "rebuild_seconds"):
                phases.setdefault(phase, []).append(round(getattr(result, phase), 2))
        self.figure("scale_worker_rss_full_state_bytes", "bytes").notes.append(
            f"a real dispatch worker right after recovering {cases:,} open cases with all its tables "
            f"({loaded['records']:,} changelog records): the dedup rows as changelog JSON, case files, referrals and "
            "overdue notices as dicts, plus the dedup index")
        if cases != self.sizes.scale_cases:
            self.figure("scale_recovery_full_state_s", "s").notes.append(
                f"MEASURED at {cases:,} open cases ({loaded['records']:,} changelog records), not at "
                f"{self.sizes.scale_cases:,}: not extrapolated, so it is not a figure for {self.sizes.scale_cases:,}")
        self.results["context"]["recovery_full_state"] = {
            "cases": cases, "changelog_records": loaded["records"], "records_by_table": loaded["records_by_table"],
            "changelog_value_bytes": loaded["value_bytes"], "generate_and_write_seconds": loaded["seconds"],
            "generating_processes": loaded["generating_processes"], "group_prefix": stack.group_prefix}


    # -- fast paths against the standard path --------------------------------------------------------------------

    def section_fast_paths(self) -> None:
        """Each fast path and the standard path it replaces, in the same run, interleaved; ``<name>_gain`` is the
        median of the runs' paired ratios (fast / standard). A fast path is kept only while it gains at least 1.5×
        (docs/benchmarks.md, "Fast paths"); patrol's FastLane did not (1.09× and 0.92×) and was removed."""
        self._codec()
        self._store()

    def _gain(self, key: str, fast: float, standard: float) -> None:
        self.record(key, "×", fast / standard)

    def _codec(self) -> None:
        # FindingReported events as patrol writes them and dispatch reads them: encode, then decode into the model.
        n = self.sizes.codec_events
        self.log(f"  CloudEvents codec against the SDK over {n:,} FindingReported events")
        findings = data.findings(n, tag="codec").items
        fast_paths.check_same_records(findings)
        fast_paths.codec_pair(findings[:1000], True)  # warm-up: first calls, caches
        for run in range(self.sizes.runs):
            pair = fast_paths.codec_pair(findings, fast_first=run % 2 == 0)
            self.record("envelope_codec_msgs_per_s", "msg/s", pair.fast)
            self.record("envelope_sdk_msgs_per_s", "msg/s", pair.standard)
            self._gain("envelope_codec_gain", pair.fast, pair.standard)
            for key, cpu in (("envelope_codec_msgs_per_s", pair.fast_cpu), ("envelope_sdk_msgs_per_s",
                                                                            pair.standard_cpu)):
                self.figure(key, "msg/s").extra.setdefault("msgs_per_cpu_s", []).append(round(cpu))

    def _store(self) -> None:
        sizes = self.sizes
        self.log(f"  group-commit store against one transaction per call: {sizes.store_claims:,} claims, "
                 f"{sizes.store_callers} concurrent callers")
        findings = data.findings(sizes.store_claims, tag="store").items
        for run in range(sizes.runs):
            rates = {}
            for group in ((True, False) if run % 2 == 0 else (False, True)):
                name = "group_commit" if group else "per_call"
                rates[group] = fast_paths.store_rate(self.stack.run_dir / f"store-{name}-{run}.db",
                                                     fast_paths.store_records(findings, f"{name}-{run}"),
                                                     sizes.store_callers, group)
                self.record(f"store_{name}_claims_per_s", "claims/s", rates[group])
            self._gain("store_group_commit_gain", rates[True], rates[False])

    # -- referral delivery at the national number of bodies -----------------------------------------------------

    def section_delivery(self) -> None:
        """Per-body topics at the prefecture's count (the baseline) and the country's, on a broker of their own
        (bench/delivery.py): hundreds of thousands of topics would weigh on every later figure of the shared one."""
        bodies = self.sizes.delivery_bodies
        self.log(f"  per-body topics: the prefecture's bodies, then {bodies or 'every'} national bodies (subprocess)")
        out = subprocess.run([sys.executable, "-m", "bench.delivery", "--bodies", str(bodies), "--repeats",
                              str(self.sizes.runs)], capture_output=True, text=True, cwd=ROOT, env=self.stack.env,
                             timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(f"bench.delivery failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.results["context"]["delivery"] = result
        for scope in ("prefecture", "national_sample"):
            figures = result[scope]
            self.record(f"delivery_{scope}_topics", "topics", figures["topics_on_broker"])
            self.record(f"delivery_{scope}_create_s", "s", figures["create_s"])
            self.record(f"delivery_{scope}_metadata_s", "s", figures["metadata_all_topics_s"])
            self.record(f"delivery_{scope}_broker_rss_bytes", "bytes", figures["broker_rss_bytes"])
            self.record(f"delivery_{scope}_latency_p99_s", "s", figures["latency"]["p99_s"])
        self.figure("delivery_national_sample_metadata_s", "s").notes.append(
            f"{result['national_topics_needed']:,} topics for the country's {result['national_bodies']:,} bodies: "
            f"{result['national_open_files_projected']:,} open files on the broker at "
            f"{result['open_files_per_topic']} per topic (limit here {result['broker_open_files_limit']:,}), and a "
            f"metadata request over all of them of about {result['national_metadata_s_projected']} s (projected "
            f"linearly from the two measured counts)")
