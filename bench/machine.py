"""What the figures were measured on: CPUs, memory, CPU model, versions, and the load average while running."""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from deploy.kafka.local_kafka import LIBS_DIR

PACKAGES = ("faust-streaming", "aiokafka", "kafka-python", "fastapi", "uvicorn", "httpx", "pydantic", "h3",
            "py-spy", "pyinstrument")


def load_average() -> float:
    return os.getloadavg()[0]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_bytes() -> int:
    match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    return int(match.group(1)) * 1024 if match else 0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _kafka_version() -> str:
    jars = sorted(LIBS_DIR.glob("kafka-clients-*.jar"))
    return jars[0].stem.removeprefix("kafka-clients-") if jars else "unknown"


def describe() -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "mem_total_bytes": _mem_total_bytes(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": _kafka_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size (VmRSS) of a process, from /proc."""
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) * 1024 if match else 0


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoadSampler:
    """Samples the 1-minute load average every few seconds for the whole run, in a daemon thread."""

    def __init__(self, interval_seconds: float = 5.0) -> None:
        self.samples: list[tuple[float, float]] = []  # (seconds since start, load average)
        self._interval_seconds = interval_seconds
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((round(time.monotonic() - self._started, 1), load_average()))
            self._stop.wait(self._interval_seconds)

    def summary(self) -> dict[str, float]:
        values = [v for _t, v in self.samples] or [load_average()]
        return {"min": round(min(values), 2), "mean": round(sum(values) / len(values), 2),
                "max": round(max(values), 2), "samples": len(values)}
