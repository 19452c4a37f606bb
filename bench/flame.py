"""Summaries of py-spy's collapsed stacks (``-f raw``): where the samples are, by function, inclusive and self."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _function(frame: str) -> str:
    """``name (path:line)`` → ``name (short path)``: lines of one function are counted together."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path})"


@dataclass
class Profile:
    samples: int
    inclusive: Counter[str]
    own: Counter[str]  # leaf frames: where the CPU actually was

    def top(self, which: str, n: int = 25) -> list[tuple[str, float]]:
        counter = self.inclusive if which == "inclusive" else self.own
        return [(name, round(100 * count / max(self.samples, 1), 1)) for name, count in counter.most_common(n)]


# Leaf frames of a thread that waits: the event loop in select(), a lock or a pool worker waiting for work.
IDLE_LEAVES = ("EpollSelector.select (selectors.py)", "Condition.wait (threading.py)",
               "_worker (concurrent/futures/thread.py)", "Event.wait (threading.py)")


def load(path: Path, idle: tuple[str, ...] = IDLE_LEAVES) -> Profile:
    """Read a raw py-spy file. Samples whose leaf is a thread waiting count as idle, not as work."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames or frames[-1] in idle:
            continue
        count = int(count_text)
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return Profile(samples, inclusive, own)


def render(profile: Profile, n: int = 20) -> str:
    lines = [f"busy samples: {profile.samples}", "", "inclusive % | function", "---: | ---"]
    lines += [f"{share} | `{name}`" for name, share in profile.top("inclusive", n)]
    lines += ["", "self % | function", "---: | ---"]
    lines += [f"{share} | `{name}`" for name, share in profile.top("own", n)]
    return "\n".join(lines)


def callers(path: Path, function: str, n: int = 8) -> list[tuple[str, int]]:
    """Which functions call ``function`` (by its short name, as in the summaries), by samples."""
    found: Counter[str] = Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [_function(f) for f in stack.split(";") if f]
        for above, frame in pairwise(frames):
            if frame == function:
                found[above] += int(count_text) if count_text.isdigit() else 0
    return found.most_common(n)
