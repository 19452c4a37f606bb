"""Dedup: does a finding open a case or join an open one? Deterministic, idempotent, restorable from table rows."""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import h3.api.basic_int as h3
import h3.api.memview_int as h3_arrays

from services.common.identifiers import case_id_for

DEFAULT_RADIUS_M = 50.0  # same default as reference.model.Category.dedup_radius_m
MAX_RADIUS_M = 2000.0  # bounds the ring a lookup scans (k <= ~30 at resolution 10)
# Why a report joined a case (FindingMerged.rule). Same category: the same matter reported again. Same competent
# bodies: another category of the group that the very same bodies handle there (a caller's "fire hazard" and a
# patrol's "work-safety hazard" at one workshop, both the emergency team's), so nobody is left out by merging it.
RULE_WITHIN_RADIUS = "same_category_within_radius"
RULE_SAME_SUBJECT = "same_category_same_subject_within_radius"
RULE_SAME_BODIES = "same_competent_bodies_within_radius"
RULE_SAME_BODIES_SAME_SUBJECT = "same_competent_bodies_same_subject_within_radius"
MAX_RELATED_CASES = 10  # related cases named on a new case: enough to show the spot, bounded for the event size
COORDINATION_PREFIX = "coordination:"  # nobody competent yet: never the "same body" for two different matters
CASES_TABLE = "dedup_cases"  # key case_id -> OpenCase.to_dict() plus status (and closed_at once closed)
MEMBERS_TABLE = "dedup_members"  # key finding_id -> {"case_id": ...}: what makes decide() idempotent

# Resolution 10 cells have ~76 m edges: a 50 m lookup scans 2-3 rings (19-37 cells), a 1000 m one ~12-15 rings.
H3_RESOLUTION = 10
# Measured over 1,500 random cells worldwide plus the neighbourhoods of all 12 resolution-10 pentagons: the nearest
# cell centre at grid distance g is never closer than 1.25 * g * circumradius (1.5 in a regular hexagon lattice),
# and circumradii within 12 rings of a cell differ by < 0.02 %. We use 1.2 and 1 % as margins.
_RING_SPACING = 1.2
_SIZE_SLACK = 1.01

Subjects = frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Report:
    """What dedup needs of a finding. ``trusted_at`` is the server's receive time, never the device clock."""

    finding_id: str
    dedup_group: str
    category_code: str
    latitude: float
    longitude: float
    trusted_at: datetime
    subjects: Subjects = frozenset()  # normalised (kind, value) pairs, see identifiers.normalise_subject
    radius_m: float = DEFAULT_RADIUS_M
    # Who routing makes competent for this report's matter where it was filed: the lead first, then the
    # co-handlers. Empty when unknown: the report then joins only a case of its own category.
    handled_by: tuple[str, ...] = ()
    township_code: str = ""  # where it was filed: another category joins a case only of the same township

    def __post_init__(self) -> None:
        if self.trusted_at.tzinfo is None:
            raise ValueError("trusted_at must be timezone-aware")
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError(f"not a WGS-84 position: {self.latitude}, {self.longitude}")
        if not 0 < self.radius_m <= MAX_RADIUS_M:
            raise ValueError(f"radius_m must be in (0, {MAX_RADIUS_M}], got {self.radius_m}")


@dataclass(slots=True)
class OpenCase:
    """The dedup footprint of a case: where it is anchored (its first report) and whose it is."""

    case_id: str
    dedup_group: str
    category_code: str
    latitude: float  # the anchor: the opening report's position; it never moves, so decisions stay reproducible
    longitude: float
    radius_m: float
    subjects: Subjects  # union of the subjects of all its reports
    opened_at: datetime
    finding_count: int = 1
    previous_case_id: str | None = None
    handled_by: tuple[str, ...] = ()  # the opening report's competent bodies (lead first); fixed like the anchor
    other_categories: tuple[str, ...] = ()  # categories of merged reports other than category_code, sorted
    township_code: str = ""  # of the opening report

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "open", "case_id": self.case_id, "dedup_group": self.dedup_group,
            "category_code": self.category_code, "latitude": self.latitude, "longitude": self.longitude,
            "radius_m": self.radius_m, "subjects": sorted([k, v] for k, v in self.subjects),
            "opened_at": self.opened_at.isoformat(), "finding_count": self.finding_count,
            "previous_case_id": self.previous_case_id, "handled_by": list(self.handled_by),
            "other_categories": list(self.other_categories), "township_code": self.township_code,
        }

    def has_category(self, category_code: str) -> bool:
        return category_code == self.category_code or category_code in self.other_categories

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenCase:
        # Interning shares one string per group, category and case id across a million restored rows.
        return cls(
            case_id=sys.intern(data["case_id"]), dedup_group=sys.intern(data["dedup_group"]),
            category_code=sys.intern(data["category_code"]), latitude=float(data["latitude"]),
            longitude=float(data["longitude"]), radius_m=float(data["radius_m"]),
            subjects=frozenset((k, v) for k, v in data["subjects"]),
            opened_at=datetime.fromisoformat(data["opened_at"]), finding_count=int(data["finding_count"]),
            previous_case_id=data.get("previous_case_id"),
            # Rows written before competence was kept have neither: such a case takes only its own category.
            handled_by=_shared_bodies(tuple(data.get("handled_by") or ())),
            other_categories=tuple(sys.intern(c) for c in data.get("other_categories") or ()),
            township_code=sys.intern(data.get("township_code") or ""),
        )


@dataclass(frozen=True, slots=True)
class ClosedCase:
    case: OpenCase
    closed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.case.to_dict(), "status": "closed", "closed_at": self.closed_at.isoformat()}


@dataclass(frozen=True, slots=True)
class OpenNewCase:
    case_id: str
    previous_case_id: str | None = None  # a closed case at the same place: the violation recurs
    # Open cases of the group at the same place (within radius, compatible subjects) that are other matters,
    # handled by other bodies: nearest first. Views show them together; each keeps its own lead and deadline.
    related_case_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MergeIntoCase:
    case_id: str
    rule: str
    distance_m: float  # from the case's anchor


@dataclass(frozen=True, slots=True)
class AlreadyDecided:
    """The finding was seen before (a replay): nothing changes."""

    case_id: str


Decision = OpenNewCase | MergeIntoCase | AlreadyDecided


@dataclass(frozen=True, slots=True)
class Row:
    """A row to persist in a durable table; ``value=None`` deletes it."""

    table: str
    key: str
    value: dict[str, Any] | None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on h3's sphere, so distances and cell geometry agree."""
    return float(h3.great_circle_distance((lat1, lon1), (lat2, lon2), "m"))


@lru_cache(maxsize=1 << 16)
def disk_of(cell: int, radius_m: float) -> tuple[int, ...]:
    """Every resolution-10 cell that can hold a point within ``radius_m`` of a point in ``cell``: the grid disk of
    k rings, where

    a point q at distance d from p lies in a cell whose centre is within d + 2e of p's cell centre (e = circumradius),
    and cells at grid distance g have centres at least g * 1.2e apart, so g <= (d + 2e) / 1.2e = k.
    Cell borders therefore never hide a neighbour: the ring always reaches past the radius.
    """
    # Depends only on the cell and the reach, and patrols report the same streets again and again: computing the
    # cell's geometry and its disk once per (cell, reach) took a fifth of a finding's dedup time off.
    centre = h3.cell_to_latlng(cell)
    circumradius = max(h3.great_circle_distance(centre, v, "m") for v in h3.cell_to_boundary(cell))
    k = math.ceil((radius_m + 2 * circumradius * _SIZE_SLACK) / (_RING_SPACING * circumradius))
    # The same cells in the same order as h3.grid_disk's list, which converts h3's array one Python call per cell:
    # most of a lookup's time at a place not seen before.
    return tuple(memoryview(h3_arrays.grid_disk(cell, k)).tolist())


class _Grid:
    """Cases of one dedup group bucketed by h3 cell; a lookup touches only the cells of one grid disk."""

    __slots__ = ("cells", "max_radius_m")

    def __init__(self) -> None:
        # Most cells hold one case: it is stored bare (a container would cost ~70 bytes more per case).
        self.cells: dict[int, OpenCase | tuple[OpenCase, ...]] = {}
        # Never shrinks: a lookup must reach as far as the widest case in the group, whoever asks.
        self.max_radius_m = 0.0

    def bucket(self, cell: int) -> tuple[OpenCase, ...]:
        found = self.cells.get(cell, ())
        return (found,) if isinstance(found, OpenCase) else found

    def add(self, case: OpenCase) -> None:
        cell = h3.latlng_to_cell(case.latitude, case.longitude, H3_RESOLUTION)
        bucket = self.bucket(cell)
        self.cells[cell] = (*bucket, case) if bucket else case
        self.max_radius_m = max(self.max_radius_m, case.radius_m)

    def remove(self, case: OpenCase) -> None:
        cell = h3.latlng_to_cell(case.latitude, case.longitude, H3_RESOLUTION)
        bucket = tuple(c for c in self.bucket(cell) if c.case_id != case.case_id)
        if not bucket:
            self.cells.pop(cell, None)
        else:
            self.cells[cell] = bucket[0] if len(bucket) == 1 else bucket

    def near(self, report: Report) -> Iterator[tuple[OpenCase, float]]:
        reach = max(report.radius_m, self.max_radius_m)
        disk = disk_of(h3.latlng_to_cell(report.latitude, report.longitude, H3_RESOLUTION), reach)
        # Most cells of a disk are empty: the intersection finds the occupied ones in one C loop over the disk.
        occupied = self.cells.keys() & disk
        if not occupied:
            return
        for cell in (occupied.pop(),) if len(occupied) == 1 else (c for c in disk if c in occupied):
            found = self.cells[cell]
            for case in (found,) if isinstance(found, OpenCase) else found:
                d = distance_m(report.latitude, report.longitude, case.latitude, case.longitude)
                # The larger radius wins: the relation is symmetric, so it does not matter which report anchors.
                if d <= max(report.radius_m, case.radius_m):
                    yield case, d


def _grid_of(grids: dict[str, _Grid], dedup_group: str) -> _Grid:
    grid = grids.get(dedup_group)  # not setdefault: it would build a throw-away grid for every case added
    if grid is None:
        grid = grids[dedup_group] = _Grid()
    return grid


def subjects_compatible(a: Subjects, b: Subjects) -> bool:
    """For every kind both name, they must share a value: two shops side by side stay two cases."""
    shared_kinds = {kind for kind, _ in a} & {kind for kind, _ in b}
    for kind in shared_kinds:  # noqa: SIM110 - not all()/any() over generators: closing one early raises GeneratorExit
        if not any([(kind, v) in b for k, v in a if k == kind]):
            return False
    return True


_BODY_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared_bodies(bodies: tuple[str, ...]) -> tuple[str, ...]:
    # A few thousand distinct (lead, co-handlers) combinations serve a million cases: share one tuple each.
    if not bodies:
        return ()
    found = _BODY_TUPLES.get(bodies)
    if found is None:
        found = _BODY_TUPLES[bodies] = tuple(sys.intern(b) for b in bodies)
    return found


def same_matter(report: Report, case: OpenCase) -> str | None:
    """Whether ``report`` is the same matter as ``case`` (group, place and subjects aside); the reason, or None.

    Same category: the same matter, whoever is competent where it was filed (two townships reporting one vendor on
    their border make one case, led as the first report's township decides). Another category: the same matter
    only when, in the case's own township, the very same bodies handle it, lead and co-handlers alike, so merging
    leaves nobody out; never when nobody is competent yet (county coordination would name one body for what may be
    two bodies' matters). By induction every category of a case is then one its lead is competent for in the
    case's township.
    """
    if case.has_category(report.category_code):
        return "category"
    if report.handled_by and report.handled_by == case.handled_by and report.township_code == case.township_code \
            and not report.handled_by[0].startswith(COORDINATION_PREFIX):
        return "bodies"
    return None


class DedupIndex:
    """Open and recently closed cases of one partition (many dedup groups), plus finding -> case membership."""

    def __init__(self) -> None:
        self._open: dict[str, OpenCase] = {}
        self._closed: dict[str, ClosedCase] = {}
        self._open_grids: dict[str, _Grid] = {}
        self._closed_grids: dict[str, _Grid] = {}
        self._members: dict[str, str] = {}
        self._open_per_township: Counter[str] = Counter()  # kept with _open: the gauges read it, never a scan

    def __len__(self) -> int:
        return len(self._open)

    def open_per_township(self) -> dict[str, int]:
        """Open cases per township of their opening report ("" for rows written before it was recorded)."""
        return {township: count for township, count in self._open_per_township.items() if count}

    def open_case_ids(self) -> list[str]:
        return list(self._open)

    def case_of(self, finding_id: str) -> str | None:
        return self._members.get(finding_id)

    def open_case(self, case_id: str) -> OpenCase | None:
        return self._open.get(case_id)

    def add(self, case: OpenCase) -> None:
        self._discard(case.case_id)
        self._open[case.case_id] = case
        self._open_per_township[case.township_code] += 1
        _grid_of(self._open_grids, case.dedup_group).add(case)

    def remember(self, finding_id: str, case_id: str) -> None:
        self._members[finding_id] = case_id

    def close(self, case_id: str, closed_at: datetime) -> list[Row]:
        """Move an open case to the closed index, where it only serves recurrence; closing twice is a no-op."""
        case = self._open.get(case_id)
        if case is None:
            if case_id in self._closed:
                return []
            raise KeyError(f"no open case {case_id}")
        closed = ClosedCase(case, closed_at)
        self._discard(case_id)
        self._add_closed(closed)
        return [Row(CASES_TABLE, case_id, closed.to_dict())]

    def candidates(self, report: Report) -> list[tuple[OpenCase, float]]:
        """Open cases of the report's group within radius, with their distance in metres."""
        grid = self._open_grids.get(report.dedup_group)
        return list(grid.near(report)) if grid else []

    def recurrence_of(self, report: Report) -> ClosedCase | None:
        """The closed case this report repeats: compatible subjects, most recently closed, then nearest."""
        grid = self._closed_grids.get(report.dedup_group)
        best: tuple[tuple[Any, ...], ClosedCase] | None = None
        for case, d in grid.near(report) if grid else ():
            if subjects_compatible(report.subjects, case.subjects) and same_matter(report, case) is not None:
                closed = self._closed[case.case_id]
                key = (not (report.subjects & case.subjects), -closed.closed_at.timestamp(), d, case.case_id)
                if best is None or key < best[0]:
                    best = (key, closed)
        return best[1] if best else None

    def closed_before(self, cutoff: datetime) -> list[str]:
        """The cases closed before ``cutoff`` still held for recurrence, oldest first."""
        return [cid for cid, closed in sorted(self._closed.items(), key=lambda item: item[1].closed_at)
                if closed.closed_at < cutoff]

    def forget_closed_before(self, cutoff: datetime, only: Callable[[str], bool] = lambda _case_id: True) -> list[Row]:
        """Drop closed cases (and their findings' membership) closed before ``cutoff``, of those ``only`` keeps:
        the end of their recurrence window. Rows to persist (tombstones)."""
        gone = {cid for cid, closed in self._closed.items() if closed.closed_at < cutoff and only(cid)}
        if not gone:
            return []  # nothing to forget: no scan of the membership
        rows = [Row(CASES_TABLE, cid, None) for cid in sorted(gone)]
        for cid in gone:
            self._discard(cid)
        # One scan of the membership: this is a periodic sweep, and a reverse index would cost memory per finding.
        for finding_id in [f for f, cid in self._members.items() if cid in gone]:
            del self._members[finding_id]
            rows.append(Row(MEMBERS_TABLE, finding_id, None))
        return rows

    def load(self, row: Row) -> None:
        """Apply one persisted row (a table changelog entry); rows may come in any order."""
        if row.table == MEMBERS_TABLE:
            if row.value is None:
                self._members.pop(row.key, None)
            else:
                # Interned like OpenCase.from_dict's case_id, so case and members share one string.
                self.remember(row.key, sys.intern(row.value["case_id"]))
        elif row.table == CASES_TABLE:
            self._discard(row.key)
            if row.value is not None:
                case = OpenCase.from_dict(row.value)
                if row.value["status"] == "closed":
                    self._add_closed(ClosedCase(case, datetime.fromisoformat(row.value["closed_at"])))
                else:
                    self.add(case)
        else:
            raise ValueError(f"unknown dedup table {row.table!r}")

    @classmethod
    def restore(cls, rows: Iterable[Row]) -> DedupIndex:
        index = cls()
        for row in rows:
            index.load(row)
        return index

    def rows(self) -> list[Row]:
        """The whole state as rows, sorted: ``restore(index.rows())`` rebuilds an equal index."""
        cases = [Row(CASES_TABLE, c.case_id, c.to_dict()) for c in self._open.values()]
        cases += [Row(CASES_TABLE, c.case.case_id, c.to_dict()) for c in self._closed.values()]
        members = [Row(MEMBERS_TABLE, f, {"case_id": cid}) for f, cid in self._members.items()]
        return sorted(cases, key=lambda r: r.key) + sorted(members, key=lambda r: r.key)

    def _add_closed(self, closed: ClosedCase) -> None:
        self._closed[closed.case.case_id] = closed
        _grid_of(self._closed_grids, closed.case.dedup_group).add(closed.case)

    def _discard(self, case_id: str) -> None:
        if (case := self._open.pop(case_id, None)) is not None:
            self._open_per_township[case.township_code] -= 1
            self._open_grids[case.dedup_group].remove(case)
        if (closed := self._closed.pop(case_id, None)) is not None:
            self._closed_grids[closed.case.dedup_group].remove(closed.case)


def decide(report: Report, index: DedupIndex) -> Decision:
    """Merge into the best open case of the same matter within radius, else open a case (naming a recurrence and
    the related cases at the same place, if any).

    Ranking among several candidates: sharing a subject first, then the same category, nearest anchor, earliest
    opened, case_id — a total order, so the same state and report always give the same decision.
    """
    known = index.case_of(report.finding_id)
    if known is not None:
        return AlreadyDecided(known)
    best: tuple[tuple[Any, ...], OpenCase, float, str] | None = None
    related: list[tuple[tuple[Any, ...], str]] = []
    for case, d in index.candidates(report):
        if not subjects_compatible(report.subjects, case.subjects):
            continue  # another party: not the same violation, and not a related one either
        matter = same_matter(report, case)
        if matter is None:
            related.append(((d, case.opened_at, case.case_id), case.case_id))
            continue
        key = (not (report.subjects & case.subjects), matter != "category", d, case.opened_at, case.case_id)
        if best is None or key < best[0]:
            best = (key, case, d, matter)
    if best is not None:
        _, case, d, matter = best
        shared = bool(report.subjects & case.subjects)
        if matter == "category":
            rule = RULE_SAME_SUBJECT if shared else RULE_WITHIN_RADIUS
        else:
            rule = RULE_SAME_BODIES_SAME_SUBJECT if shared else RULE_SAME_BODIES
        return MergeIntoCase(case.case_id, rule, round(d, 2))
    previous = index.recurrence_of(report)
    return OpenNewCase(case_id_for(report.finding_id), previous.case.case_id if previous else None,
                       tuple(case_id for _, case_id in sorted(related)[:MAX_RELATED_CASES]))


def apply(decision: Decision, report: Report, index: DedupIndex) -> list[Row]:
    """Carry out ``decision`` on ``index``; returns the rows to persist. Applying it again returns no rows."""
    if isinstance(decision, AlreadyDecided) or index.case_of(report.finding_id) is not None:
        return []
    if isinstance(decision, OpenNewCase):
        case = OpenCase(
            case_id=decision.case_id, dedup_group=sys.intern(report.dedup_group),
            category_code=sys.intern(report.category_code), latitude=report.latitude, longitude=report.longitude,
            radius_m=report.radius_m, subjects=report.subjects, opened_at=report.trusted_at,
            previous_case_id=decision.previous_case_id, handled_by=_shared_bodies(report.handled_by),
            township_code=sys.intern(report.township_code),
        )
        index.add(case)
    else:
        found = index.open_case(decision.case_id)
        if found is None or found.dedup_group != report.dedup_group:
            raise ValueError(f"stale decision: no open case {decision.case_id} in group {report.dedup_group}")
        case = found
        case.subjects = case.subjects | report.subjects
        case.finding_count += 1
        if not case.has_category(report.category_code):
            case.other_categories = tuple(sorted((*case.other_categories, sys.intern(report.category_code))))
    index.remember(report.finding_id, case.case_id)
    member: dict[str, Any] = {"case_id": case.case_id}
    if isinstance(decision, MergeIntoCase):
        # Kept only in the durable row (not in memory), so a replay can re-emit the very same FindingMerged.
        member |= {"rule": decision.rule, "distance_m": decision.distance_m}
    return [Row(CASES_TABLE, case.case_id, case.to_dict()), Row(MEMBERS_TABLE, report.finding_id, member)]
