"""Properties of "the same violation" (docs/dedup.md): nobody competent is left out, a violation is never two cases,
and within one township the cases and their links do not depend on the order of arrival."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.dispatch.domain.dedup import DedupIndex, Report, apply, decide, distance_m
from tests.cluster_geometry import CLUSTER_SPACING_M, CLUSTER_SPREAD_M, T0, offset

GROUP = "safety"
CATEGORIES = ("lift", "fire", "work_safety", "boiler", "unknown_matter")
TOWNSHIPS = ("210603003", "210603004")
# Who routing makes competent (lead first, then co-handlers), per township and category: the two townships differ,
# as delegation differs between neighbours; "unknown_matter" is nobody's yet (county coordination).
ROUTES = {
    "210603003": {"lift": ("team:market",), "fire": ("agency:police",), "work_safety": ("team:emergency",),
                  "boiler": ("team:market",), "unknown_matter": ("coordination:210603",)},
    "210603004": {"lift": ("team:market",), "fire": ("team:emergency",), "work_safety": ("team:emergency",),
                  "boiler": ("team:market", "team:emergency"), "unknown_matter": ("coordination:210603",)},
}
PROPERTY = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Input:
    finding_id: str
    cluster: int
    category: str
    township: str
    lat: float
    lon: float

    def at(self, position: int) -> Report:
        return Report(self.finding_id, GROUP, self.category, self.lat, self.lon, T0 + timedelta(seconds=position),
                      radius_m=50.0, handled_by=ROUTES[self.township][self.category], township_code=self.township)


@st.composite
def clusters(draw: st.DrawFn, one_township: bool = False) -> list[Input]:
    base = (draw(st.floats(39.9, 40.9)), draw(st.floats(123.5, 125.5)))
    inputs = []
    township = draw(st.sampled_from(TOWNSHIPS))
    for c in range(draw(st.integers(1, 4))):
        centre = offset(*base, 90, c * CLUSTER_SPACING_M)
        for i in range(draw(st.integers(1, 7))):
            at = offset(*centre, draw(st.floats(0, 360)), draw(st.floats(0, CLUSTER_SPREAD_M)))
            where = township if one_township else draw(st.sampled_from(TOWNSHIPS))
            inputs.append(Input(f"c{c}-r{i}", c, draw(st.sampled_from(CATEGORIES)), where, at[0], at[1]))
    return inputs


@dataclass
class Outcome:
    case_of: dict[str, str]
    lead_township: dict[str, tuple[tuple[str, ...], str]]  # case -> (its bodies, its township)
    links: set[frozenset[str]]  # unordered pairs of related cases


def run(inputs: list[Input]) -> Outcome:
    index = DedupIndex()
    outcome = Outcome({}, {}, set())
    for position, item in enumerate(inputs):
        report = item.at(position)
        decision = decide(report, index)
        apply(decision, report, index)
        case_id = index.case_of(item.finding_id)
        assert case_id is not None
        outcome.case_of[item.finding_id] = case_id
        case = index.open_case(case_id)
        assert case is not None
        outcome.lead_township[case_id] = (case.handled_by, case.township_code)
        for related in getattr(decision, "related_case_ids", ()):
            outcome.links.add(frozenset({case_id, related}))
    return outcome


@PROPERTY
@given(clusters(), st.data())
def test_every_matter_has_its_competent_bodies_in_any_order(inputs: list[Input], data: st.DataObject) -> None:
    """In the case it ends in, every report's matter is one the case's lead and co-handlers are competent for, in
    the case's township; a nobody's matter (coordination) shares its case with its own category only."""
    for order in (inputs, data.draw(st.permutations(inputs))):
        outcome = run(order)
        for item in order:
            bodies, township = outcome.lead_township[outcome.case_of[item.finding_id]]
            assert ROUTES[township][item.category] == bodies, (item, bodies, township)
        by_case: dict[str, set[str]] = {}
        for item in order:
            by_case.setdefault(outcome.case_of[item.finding_id], set()).add(item.category)
        for categories in by_case.values():
            assert "unknown_matter" not in categories or categories == {"unknown_matter"}


@PROPERTY
@given(clusters(), st.data())
def test_one_violation_is_never_two_cases(inputs: list[Input], data: st.DataObject) -> None:
    """Two reports of one category at one place (whichever township filed them) are always in one case."""
    outcome = run(data.draw(st.permutations(inputs)))
    for a, b in combinations(inputs, 2):
        if a.cluster == b.cluster and a.category == b.category:
            assert distance_m(a.lat, a.lon, b.lat, b.lon) <= 50.0
            assert outcome.case_of[a.finding_id] == outcome.case_of[b.finding_id], (a, b)


def partition(outcome: Outcome, inputs: list[Input]) -> set[frozenset[str]]:
    cases: dict[str, set[str]] = {}
    for item in inputs:
        cases.setdefault(outcome.case_of[item.finding_id], set()).add(item.finding_id)
    return {frozenset(v) for v in cases.values()}


def linked_blocks(outcome: Outcome, inputs: list[Input]) -> set[frozenset[frozenset[str]]]:
    blocks = {case_id: frozenset(i.finding_id for i in inputs if outcome.case_of[i.finding_id] == case_id)
              for case_id in set(outcome.case_of.values())}
    return {frozenset(blocks[c] for c in pair) for pair in outcome.links}


@PROPERTY
@given(clusters(one_township=True), st.data())
def test_within_one_township_order_changes_neither_cases_nor_links(inputs: list[Input],
                                                                   data: st.DataObject) -> None:
    """One case per (place, competent bodies) — per category for nobody's matters — and every two cases at one
    place linked, whatever the order of arrival."""
    expected: dict[tuple[int, object], set[str]] = {}
    for item in inputs:
        bodies = ROUTES[item.township][item.category]
        key = item.category if bodies[0].startswith("coordination:") else bodies
        expected.setdefault((item.cluster, key), set()).add(item.finding_id)
    first, second = run(inputs), run(data.draw(st.permutations(inputs)))
    assert partition(first, inputs) == partition(second, inputs) == {frozenset(v) for v in expected.values()}
    assert linked_blocks(first, inputs) == linked_blocks(second, inputs)
    clusters_of = {frozenset(v): c for (c, _), v in expected.items()}
    same_place = {frozenset({frozenset(a), frozenset(b)}) for a, b in combinations(expected.values(), 2)
                  if clusters_of[frozenset(a)] == clusters_of[frozenset(b)]}
    assert linked_blocks(first, inputs) == same_place
