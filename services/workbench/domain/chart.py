"""The township's chart of its dispatched agencies' figures, drawn here as inline SVG: no script, nothing loaded.

Each bar carries its figure's name and value in text, so the chart reads the same without its colours; the table
next to it on the page holds the same numbers for screen readers and copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

# (field of info-share's body figures, words, colour with at least 4.5:1 against white for the value text beside it)
SERIES: tuple[tuple[str, str, str], ...] = (
    ("received", "收到", "#0b4f9c"), ("accepted", "签收", "#0d5323"), ("returned", "退回", "#8a1010"),
    ("extensions", "延期", "#5c4300"), ("reworks", "重办", "#6a1b7a"), ("closed", "结案", "#1a1a1a"),
)
WIDTH, LABEL_WIDTH, ROW, GAP, VALUE_ROOM = 640, 150, 20, 14, 40


@dataclass(frozen=True)
class Bar:
    words: str
    value: int
    colour: str


def bars(agency: dict[str, Any]) -> list[Bar]:
    return [Bar(words, int(agency.get(field) or 0), colour) for field, words, colour in SERIES]


def agencies_svg(agencies: Sequence[dict[str, Any]], title: str) -> str:
    """Horizontal bars, one group per agency: '收到 3' written beside each bar, the agency's name above its group."""
    groups = [(str(a.get("name") or a.get("body_id") or ""), bars(a)) for a in agencies]
    largest = max((b.value for _, group in groups for b in group), default=0) or 1
    scale = (WIDTH - LABEL_WIDTH - VALUE_ROOM) / largest
    parts: list[str] = []
    y = 0
    for index, (name, group) in enumerate(groups):
        parts.append(f'<text x="0" y="{y + 16}" class="chart-group" font-weight="bold">{escape(name)}</text>')
        y += 24
        for bar in group:
            width = round(bar.value * scale, 1)
            parts.append(
                f'<g data-agency="{index}" data-series="{escape(bar.words)}">'
                f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{escape(bar.words)}</text>'
                f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{width}" height="{ROW - 4}" fill="{bar.colour}"/>'
                f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{bar.value}</text></g>')
            y += ROW
        y += GAP
    height = max(y, 24)
    if not groups:
        parts.append('<text x="0" y="16">暂无派驻机构数据</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title" id="agency-chart" '
            f'viewBox="0 0 {WIDTH} {height}" width="100%" font-size="14" '
            f'fill="#1a1a1a"><title id="chart-title">{escape(title)}</title>{"".join(parts)}</svg>')
