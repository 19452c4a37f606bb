"""The results document (latest.json) and its human summary (latest.md, also printed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.runs import Sizes
from bench.stats import Figure

# The figures the issue asks for, in the order of the summary, with the target where there is one.
KEYS: tuple[tuple[str, str], ...] = (
    ("dispatch_findings_per_s", ""),
    ("passthrough_msgs_per_s", ""),
    ("dispatch_ratio", "≥ 0.5"),
    ("passthrough_amplified_msgs_per_s", ""),
    ("dispatch_ratio_same_output", ""),
    ("broker_producer_msgs_per_s", ""),
    ("broker_consumer_msgs_per_s", ""),
    ("e2e_latency_p50_s", ""),
    ("e2e_latency_p99_s", "≤ 0.1 at 500/s"),
    ("e2e_achieved_findings_per_s", "500"),
    ("ingest_batch_findings_per_s", "≥ 10,000"),
    ("ingest_single_requests_per_s", "≥ 1,000"),
    ("bare_producer_msgs_per_s", ""),
    ("scale_decide_us", ""),
    ("scale_rss_bytes", "≤ 1 GiB"),
    ("scale_deadline_tick_quiet_ms", ""),
    ("scale_deadline_tick_quiet_scan_ms", ""),
    ("scale_deadline_tick_due_ms", ""),
    ("scale_deadline_tick_due_scan_ms", ""),
    ("scale_recovery_s", "≤ 60"),
    # Each fast path against the standard path (section fast_paths): kept only with a gain of at least 1.5.
    ("envelope_codec_gain", "≥ 1.5"),
    ("store_group_commit_gain", "≥ 1.5"),
    # Per-body topics (section delivery): one prefecture's bodies, the baseline, against the country's.
    ("delivery_prefecture_metadata_s", ""),
    ("delivery_national_sample_metadata_s", ""),
    ("delivery_national_sample_create_s", ""),
    ("delivery_national_sample_broker_rss_bytes", ""),
    ("delivery_prefecture_latency_p99_s", ""),
    ("delivery_national_sample_latency_p99_s", ""),
)
TARGETS = {"dispatch_ratio": (0.5, ">="), "e2e_latency_p99_s": (0.1, "<="), "ingest_batch_findings_per_s":
           (10_000, ">="), "ingest_single_requests_per_s": (1_000, ">="), "scale_rss_bytes": (2**30, "<="),
           "scale_recovery_s": (60, "<="), "e2e_achieved_findings_per_s": (500 * 0.98, ">="),
           "envelope_codec_gain": (1.5, ">="), "store_group_commit_gain": (1.5, ">=")}


def build(results: dict[str, Any], sizes: Sizes, sections: list[str], load: dict[str, float], elapsed_s: float,
          kept_dir: str | None) -> dict[str, Any]:
    figures: dict[str, Figure] = results.get("figures", {})
    document: dict[str, Any] = {}
    for key, fig in figures.items():
        document[key] = fig.median
    dispatch, passthrough = figures.get("dispatch_findings_per_s"), figures.get("passthrough_msgs_per_s")
    details = {key: fig.as_dict() for key, fig in figures.items()}
    if dispatch and passthrough and dispatch.median and passthrough.median:
        document["dispatch_ratio"] = round(dispatch.median / passthrough.median, 3)
        details["dispatch_ratio"] = {"median": document["dispatch_ratio"], "unit": "",
                                     "runs": dispatch.extra.get("ratio_per_run", []),
                                     "notes": ["median dispatch / median passthrough; runs: each run's pair"]}
    amplified = figures.get("passthrough_amplified_msgs_per_s")
    if dispatch and amplified and dispatch.median and amplified.median:
        document["dispatch_ratio_same_output"] = round(dispatch.median / amplified.median, 3)
        details["dispatch_ratio_same_output"] = {
            "median": document["dispatch_ratio_same_output"], "unit": "", "runs": [],
            "notes": ["median dispatch / median passthrough writing as many records per input as dispatch"]}
    document["targets_met"] = {key: _meets(document.get(key), *target) for key, target in TARGETS.items()
                               if document.get(key) is not None}
    document["details"] = details
    document["context"] = results.get("context", {})
    document["sizes"] = sizes.as_dict()
    document["sections"] = sections
    document["machine"] = {**machine.describe(), "load_average_1m_during_run": load}
    document["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    document["elapsed_s"] = round(elapsed_s, 1)
    if kept_dir:
        document["run_dir"] = kept_dir
    return document


def _meets(value: float | None, threshold: float, how: str) -> bool | None:
    if value is None:
        return None
    return value >= threshold if how == ">=" else value <= threshold


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "bytes" or (isinstance(value, int) and value > 10**7):
        return f"{value / 2**20:,.0f} MiB"
    if isinstance(value, float) and value < 10:
        return f"{value:.3f}"
    return f"{value:,.0f}"


def markdown(document: dict[str, Any]) -> str:
    details = document["details"]
    m = document["machine"]
    lines = [
        f"# liandong benchmarks — {document['generated_at']}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_bytes'] / 2**30:.1f} GiB, Python "
        f"{m['python']}, Kafka {m['kafka']}; 1-minute load average during the run: min "
        f"{m['load_average_1m_during_run']['min']}, mean {m['load_average_1m_during_run']['mean']}, max "
        f"{m['load_average_1m_during_run']['max']}. Whole run: {document['elapsed_s'] / 60:.1f} min.",
        "",
        "| key | median | runs | load avg (1 min) per run | target | met |",
        "| --- | ---: | --- | --- | --- | --- |",
    ]
    for key, target in KEYS:
        d = details.get(key, {})
        unit = d.get("unit", "")
        runs = ", ".join(_fmt(v, unit) for v in d.get("runs", []))
        met = document["targets_met"].get(key)
        lines.append(f"| `{key}` | {_fmt(document.get(key), unit)} {unit if unit != 'bytes' else ''} | {runs} | "
                     f"{', '.join(str(v) for v in d.get('load_average_1m', []))} | {target} | "
                     f"{'' if met is None else ('yes' if met else '**no**')} |")
    extra = [k for k in details if k not in dict(KEYS)]
    if extra:
        lines += ["", "Also measured:", ""]
        for key in extra:
            d = details[key]
            lines.append(f"- `{key}`: {_fmt(d['median'], d['unit'])} {d['unit'] if d['unit'] != 'bytes' else ''} "
                         f"(runs {', '.join(_fmt(v, d['unit']) for v in d['runs'])})")
    notes = [(key, note) for key, d in details.items() for note in d.get("notes", [])]
    if notes:
        lines += ["", "Notes:", ""] + [f"- `{key}`: {note}" for key, note in notes]
    if document.get("context"):
        lines += ["", "Context:", "", "```json", json.dumps(document["context"], indent=1, ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"


DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:latest -->", "<!-- /bench:latest -->"


def write(document: dict[str, Any], directory: Path, docs: Path | None = DOCS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    summary = markdown(document)
    (directory / "latest.md").write_text(summary)
    if docs is not None and docs.exists():
        # The figures section of docs/benchmarks.md is this run's summary, between the two markers.
        text = docs.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _old, tail = rest.split(END, 1)
            body = summary.split("\n", 1)[1].split("\nContext:", 1)[0].strip()
            docs.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
