"""Medians, percentiles and the shape of one measured figure (runs, load average, notes)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample: always one of the measured values."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Figure:
    """One reported figure: the median of its runs, each run with the load average seen while it ran."""

    key: str
    unit: str
    runs: list[float] = field(default_factory=list)
    load_averages: list[float] = field(default_factory=list)  # 1-minute load average at the end of each run
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, value: float, load_average: float) -> None:
        self.runs.append(value)
        self.load_averages.append(round(load_average, 2))

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "unit": self.unit, "runs": self.runs,
                "load_average_1m": self.load_averages, "notes": self.notes, **self.extra}
