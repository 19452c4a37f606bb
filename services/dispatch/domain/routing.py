"""Routes a finding to exactly one lead body (plus co-handlers) from the township's power list at the time found."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from services.reference.loader import (
    ReferenceData,
    agency_id,
    coordination_id,
    microseconds_since_epoch,
    team_id,
    township_office_id,
)
from services.reference.model import PowerItem, Township


class RoutingRule(StrEnum):
    DELEGATED_TO_TOWNSHIP = "delegated_to_township"
    DISPATCHED_AGENCY = "dispatched_agency"
    COUNTY_DEPARTMENT = "county_department"
    NO_COMPETENT_BODY = "no_competent_body"


# Not a rule of ``route``: the referral county coordination makes after deciding a dispute.
DESIGNATED_BY_COORDINATION = "designated_by_coordination"


@dataclass(frozen=True)
class RoutingDecision:
    lead_body_id: str
    co_body_ids: tuple[str, ...]
    rule: str  # a RoutingRule value; plain str so callers may build decisions from stored events
    item_codes: tuple[str, ...]  # the category's items present in the township's list, primary first
    catalogue_version: str
    detail: str
    major: bool = False  # some item is a major work-safety/food/drug/environment matter: 24-hour transfer limit


class _Candidate(NamedTuple):
    body_id: str
    rule: RoutingRule
    item: PowerItem


def route(reference: ReferenceData, township_code: str, category_code: str, found_at: datetime,
          excluded_body_ids: frozenset[str] = frozenset()) -> RoutingDecision:
    """One violation, one lead body (避免多头执法): the first competent body not excluded by an earlier return.

    Order of competence: the township office when an item of the category is delegated to it by a grant in force
    at ``found_at``; then, item by item (primary first), the township's dispatched agency the item names and the
    county team of the item's department. When none is left, the county coordination body (司法局) decides;
    it is never excluded, since it is where jurisdiction disputes end. Unknown codes raise KeyError.
    """
    township = reference.township(township_code)
    if category_code not in reference.categories:
        raise KeyError(f"unknown category code {category_code!r}")
    category = reference.categories[category_code]
    try:
        version = reference.catalogue_in_force(found_at)
    except LookupError:
        first = reference.versions[0]
        return _coordination(township, (), "", f"{category.name}：{found_at.date().isoformat()}尚无生效的权责清单"
                             f"（首版{first.version}于{first.published_at.date().isoformat()}发布）")
    listed = reference.township_list(township.code, found_at)
    items = [version.items[c] for c in category.item_codes if c in listed]
    codes = tuple([i.code for i in items])
    major = is_major_matter(reference, category_code, found_at)
    if not items:
        return _coordination(township, codes, version.version,
                             f"{category.name}：{township.name}权责清单（{version.version}）中无对应事项", major)
    candidates = _candidates(township, items, listed)
    lead = _first_not_excluded(candidates, excluded_body_ids)
    if lead is None:
        returned = "、".join(sorted(excluded_body_ids & {c.body_id for c in candidates}))
        return _coordination(township, codes, version.version,
                             f"{category.name}：有管辖权的机关均已退回（{returned}）", major)
    co = _co_bodies(township, items, lead, excluded_body_ids)
    return RoutingDecision(lead.body_id, co, lead.rule, codes, version.version,
                           _detail(reference, township, lead, co, found_at), major)


def is_major_matter(reference: ReferenceData, category_code: str, found_at: datetime) -> bool:
    """A major work-safety, food, drug or environmental matter (24-hour transfer limit instead of working days):
    an item of the category is marked major in the catalogue in force, wherever it was found. LookupError before
    the first catalogue version."""
    catalogue = reference.catalogue_in_force(found_at)
    return any([catalogue.items[code].major for code in reference.categories[category_code].item_codes
                if code in catalogue.items])


def overdue_escalated_to(reference: ReferenceData, township_code: str) -> str:
    """Who is told when a referral of a case found in the township passes its deadline unanswered: the county
    coordination body (司法局), which settles disputes and supervises the time limits."""
    return coordination_id(reference.township(township_code).county_code)


def escalated_to_coordination(county_code: str, routed: RoutingDecision, reason: str) -> RoutingDecision:
    """After the last return allowed (lifecycle.next_step_after_return): county coordination decides the dispute."""
    return RoutingDecision(coordination_id(county_code), (), RoutingRule.NO_COMPETENT_BODY, routed.item_codes,
                           routed.catalogue_version, reason, routed.major)


def designated_by_coordination(routed: RoutingDecision, body_id: str, body_name: str) -> RoutingDecision:
    """指定管辖: the body county coordination named for a dispute, which cannot return it."""
    return RoutingDecision(body_id, (), DESIGNATED_BY_COORDINATION, routed.item_codes, routed.catalogue_version,
                           f"县司法局指定管辖：由{body_name}办理", routed.major)


# Plain loops rather than next()/any() over generators below: a generator left unfinished is closed by raising
# GeneratorExit in it, which costs more than the rest of the search.


def _first_not_excluded(candidates: list[_Candidate], excluded_body_ids: frozenset[str]) -> _Candidate | None:
    for candidate in candidates:
        if candidate.body_id not in excluded_body_ids:
            return candidate
    return None


def _first_delegated(items: list[PowerItem], listed: Mapping[str, bool]) -> PowerItem | None:
    for item in items:
        if listed[item.code]:
            return item
    return None


def _candidates(township: Township, items: list[PowerItem], listed: Mapping[str, bool]) -> list[_Candidate]:
    found: list[_Candidate] = []
    delegated = _first_delegated(items, listed)
    if delegated is not None:
        found.append(_Candidate(township_office_id(township.code), RoutingRule.DELEGATED_TO_TOWNSHIP, delegated))
    for item in items:
        if item.dispatched_agency:
            found.append(_Candidate(agency_id(township.code, item.dispatched_agency), RoutingRule.DISPATCHED_AGENCY,
                                    item))
        found.append(_Candidate(team_id(township.county_code, item.department), RoutingRule.COUNTY_DEPARTMENT, item))
    unique: dict[str, _Candidate] = {}
    for candidate in found:
        unique.setdefault(candidate.body_id, candidate)  # first reason for a body wins
    return list(unique.values())


def _co_bodies(township: Township, items: list[PowerItem], lead: _Candidate,
               excluded: frozenset[str]) -> tuple[str, ...]:
    # A township handling its own delegated item only calls in that item's named co-departments; a county lead
    # also brings in the departments of the category's other items (not their co-departments, which would drag
    # e.g. the police into every safety hazard). Never a second lead: these only assist.
    departments = list(lead.item.co_departments)
    if lead.rule is not RoutingRule.DELEGATED_TO_TOWNSHIP:
        departments += [i.department for i in items]
    # An agency is its department's arm in the township, so that department's team is not a separate co-handler.
    skip = {lead.body_id, *excluded}
    if lead.rule is RoutingRule.DISPATCHED_AGENCY:
        skip.add(team_id(township.county_code, lead.item.department))
    co: list[str] = []
    for dept in departments:
        body = team_id(township.county_code, dept)
        if body not in skip and body not in co:
            co.append(body)
    return tuple(co)


class RoutingMemo:
    """``route`` without excluded bodies, computed once per (township, category, epoch).

    A decision depends on the time only through the catalogue version and the duty grants in force, and those change
    at known instants (a version published, a grant taking effect or revoked; each counts from that instant on, as in
    ``ReferenceData``). Between two such instants the decision for a (township, category) is the same. Before the
    first catalogue version the explanation names the date, so that epoch is never memoised.
    """

    def __init__(self, reference: ReferenceData) -> None:
        instants = {v.published_at for v in reference.versions}
        for grant in reference.grants:
            instants.add(grant.effective_from)
            if grant.revoked_from is not None:
                instants.add(grant.revoked_from)
        self._changes = sorted(instants)
        self._change_microseconds = [microseconds_since_epoch(instant) for instant in self._changes]
        self._reference = reference
        self._decisions: dict[tuple[str, str, int], RoutingDecision] = {}
        self._last: tuple[datetime, int] | None = None

    def epoch(self, found_at: datetime) -> int:
        """Which interval between two change instants ``found_at`` falls in; 0 is before the first instant."""
        # Asked several times per finding with its one receive time; comparing aware datetimes is not free.
        if self._last is not None and self._last[0] is found_at:
            return self._last[1]
        try:
            # The same order as comparing the datetimes, without a utcoffset() call per comparison.
            epoch = bisect.bisect_right(self._change_microseconds, microseconds_since_epoch(found_at))
        except TypeError:  # naive: comparing it with the instants raises the error it deserves
            epoch = bisect.bisect_right(self._changes, found_at)
        self._last = (found_at, epoch)  # instants at or before found_at have happened
        return epoch

    def route(self, township_code: str, category_code: str, found_at: datetime) -> RoutingDecision:
        epoch = self.epoch(found_at)
        if epoch == 0:
            return route(self._reference, township_code, category_code, found_at)
        key = (township_code, category_code, epoch)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = route(self._reference, township_code, category_code, found_at)
        return decision



def _detail(reference: ReferenceData, township: Township, lead: _Candidate, co: tuple[str, ...],
            found_at: datetime) -> str:
    item = lead.item
    head = f"事项 {item.code}「{item.name}」（{item.legal_basis}）"
    body = reference.body(lead.body_id).name
    if lead.rule is RoutingRule.DELEGATED_TO_TOWNSHIP:
        grant = reference.grant_in_force(item.code, township.code, found_at)
        ref = f"{grant.approval_ref}，{grant.effective_from.date().isoformat()}起生效" if grant else ""
        text = f"{head}已经职责准入下放乡镇（{ref}），由{body}办理"
    elif lead.rule is RoutingRule.DISPATCHED_AGENCY:
        text = f"{head}由派驻机构{body}办理"
    else:
        text = f"{head}未下放{township.name}，移送{body}主办"
    if co:
        text += "；协办：" + "、".join(reference.body(b).name for b in co)
    return text


def _coordination(township: Township, codes: tuple[str, ...], version: str, why: str,
                  major: bool = False) -> RoutingDecision:
    return RoutingDecision(coordination_id(township.county_code), (), RoutingRule.NO_COMPETENT_BODY, codes, version,
                           f"{why}，报县级司法局协调确定管辖", major)
