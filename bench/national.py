"""National scale: open cases over all 38,723 township-level units, as dedup table rows, as every dispatch table's
rows, and as reports to decide."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
import shapely

from schemas.events import FindingReported
from scripts.sample_day import SOURCES_FOR_REPEATS
from services.common.deadlines import DeadlinePolicy
from services.common.identifiers import case_id_for, normalise_subject, referral_id_for
from services.common.lifecycle import COORDINATION_PREFIX, Action, Outcome, Referral, State
from services.dispatch.domain import dedup
from services.dispatch.domain.routing import RoutingMemo
from services.dispatch.service import CASE_FILES_TABLE, OVERDUE_TABLE, REFERRALS_TABLE
from services.patrol.domain.intake import FINDING_NAMESPACE, finding_id_for
from services.reference.geography import _districts
from services.reference.loader import ReferenceData, load_national_townships, load_reference_data
from services.reference.model import NationalTownship

REPEAT_SHARE = 0.3  # extra findings per case already merged into it (membership rows), as in the sample day


def _uuid_text(pick: random.Random) -> str:
    """A random id in the uuid text form the services use (36 characters), cheaper than uuid5 at a million."""
    h = f"{pick.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Category:
    code: str
    dedup_group: str
    radius_m: float
    takes_uscc: bool


@cache
def categories() -> tuple[Category, ...]:
    return tuple(Category(c.code, c.dedup_group, c.dedup_radius_m, any(k.value == "uscc" for k in c.subject_kinds))
                 for c in sorted(load_reference_data().categories.values(), key=lambda c: c.code))


@cache
def _county_shapes() -> dict[str, shapely.Geometry]:
    codes, shapes, _prepared, _tree = _districts()
    return dict(zip(codes, shapes, strict=True))


def _polygon_for(county_code: str) -> shapely.Geometry:
    """The county's polygon; for the few codes the map lacks (newer divisions), a neighbour in its prefecture."""
    shapes = _county_shapes()
    if county_code in shapes:
        return shapes[county_code]
    for prefix_length in (4, 2):
        for code in sorted(shapes):
            if code[:prefix_length] == county_code[:prefix_length]:
                return shapes[code]
    raise KeyError(county_code)


def points_in_county(county_code: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniformly random (lat, lon) inside the county: vectorised rejection sampling on its bounds."""
    if count == 0:
        return np.empty((0, 2))
    polygon = _polygon_for(county_code)
    shapely.prepare(polygon)
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    found: list[np.ndarray] = []
    have = 0
    while have < count:
        lon = rng.uniform(min_lon, max_lon, count * 2 + 16)
        lat = rng.uniform(min_lat, max_lat, count * 2 + 16)
        inside = shapely.contains_xy(polygon, lon, lat)
        chunk = np.column_stack([lat[inside], lon[inside]])
        found.append(chunk)
        have += len(chunk)
    return np.round(np.concatenate(found)[:count], 6)


def open_cases(total: int, seed: int = 38723) -> Iterator[dedup.OpenCase]:
    """``total`` open cases spread evenly over every township-level unit of China, categories drawn uniformly."""
    for _township, case in placed_cases(total, seed):
        yield case


def placed_cases(total: int, seed: int = 38723) -> Iterator[tuple[NationalTownship, dedup.OpenCase]]:
    """``open_cases`` with the township-level unit each case belongs to (same cases, same order, same draws)."""
    townships = load_national_townships()
    by_county: dict[str, int] = {}
    in_county: dict[str, list[NationalTownship]] = {}
    for index, township in enumerate(townships):
        # Even spread: township i gets floor or ceil of total / n cases.
        share = (index + 1) * total // len(townships) - index * total // len(townships)
        by_county[township.county_code] = by_county.get(township.county_code, 0) + share
        in_county.setdefault(township.county_code, []).extend([township] * share)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    cats = categories()
    opened = datetime(2026, 1, 1, tzinfo=UTC)
    serial = 0
    for county_code, count in sorted(by_county.items()):
        # The points are drawn over the county's polygon (the map has no township polygons); the county's cases
        # are dealt to its townships by their shares, in order.
        for township, (lat, lon) in zip(in_county[county_code], points_in_county(county_code, count, rng),
                                        strict=True):
            category = pick.choice(cats)
            subjects: dedup.Subjects = frozenset()
            if category.takes_uscc and pick.random() < 0.5:
                subjects = frozenset({("uscc", f"91{county_code}{serial:09d}X")})
            yield township, dedup.OpenCase(
                case_id=_uuid_text(pick), dedup_group=category.dedup_group, category_code=category.code,
                latitude=float(lat), longitude=float(lon), radius_m=category.radius_m, subjects=subjects,
                opened_at=opened + timedelta(seconds=serial % 31_536_000), finding_count=1)
            serial += 1


def finding_ids(serial: int, pick: random.Random) -> list[str]:
    """The findings of a case: its opening finding, plus a merged repeat for REPEAT_SHARE of the cases."""
    return [_uuid_text(pick) for _ in range(2 if serial % 10 < REPEAT_SHARE * 10 else 1)]


def rows(total: int, seed: int = 38723) -> Iterator[dedup.Row]:
    """The dedup tables' rows for ``total`` open cases: one case row and its membership rows per case."""
    pick = random.Random(seed + 1)
    for serial, case in enumerate(open_cases(total, seed)):
        members = finding_ids(serial, pick)
        case.finding_count = len(members)
        yield dedup.Row(dedup.CASES_TABLE, case.case_id, case.to_dict())
        for finding_id in members:
            yield dedup.Row(dedup.MEMBERS_TABLE, finding_id, {"case_id": case.case_id})


# -- the whole state of a worker: every table's rows ----------------------------------------------------------------

# The referral of an open case, by how far it has got (attempt 1; a closed one closes its case).
REFERRAL_STATES: tuple[tuple[State, float], ...] = (
    (State.ISSUED, 0.10), (State.ACCEPTED, 0.15), (State.HANDLING, 0.50), (State.RESULT_FED_BACK, 0.20),
    (State.VERIFIED, 0.05))
_STEPS = (  # the transitions that lead to each state, in order, and the hours after issue each one comes
    (State.ACCEPTED, Action.ACCEPT, (1, 60)), (State.HANDLING, Action.START_HANDLING, (61, 120)),
    (State.RESULT_FED_BACK, Action.FEED_BACK, (121, 480)), (State.VERIFIED, Action.VERIFY, (481, 600)))
_PROGRESS = (State.ISSUED, *(to_state for to_state, _action, _hours in _STEPS))
# state -> its history as plain texts (from, to, action, hours, by the township?, with an outcome?): enum attribute
# access is slow enough to matter at a million referrals.
_HISTORY_OF: dict[str, tuple[tuple[str, str, str, tuple[int, int], bool, bool], ...]] = {
    state.value: tuple((before.value, after.value, action.value, hours, action is Action.VERIFY,
                        action is Action.FEED_BACK)
                       for before, (after, action, hours) in zip(_PROGRESS[:index], _STEPS[:index], strict=True))
    for index, state in enumerate(_PROGRESS)}
_OUTCOMES = tuple(o.value for o in (Outcome.RECTIFIED, Outcome.RECTIFIED, Outcome.PENALTY_DECIDED,
                                    Outcome.NO_VIOLATION, Outcome.TRANSFERRED_TO_JUDICIARY))
VALIDATE_EVERY = 10_000  # one case in this many is rebuilt through the models the services use, and compared
BLOCK = 10_000  # cases per block of ``full_state``'s work (and per seed of its random draws)


@dataclass(frozen=True)
class CaseState:
    """Every row a dispatch worker holds for one open case, as its tables hold them."""

    dedup_group: str
    rows: list[dedup.Row]


class _Texts:
    """ISO 8601 texts of whole-second instants (UTC or China time), as ``datetime.isoformat`` and pydantic write
    them, from lookup tables: datetime arithmetic and isoformat cost microseconds each, and a case needs about ten."""

    def __init__(self) -> None:
        self._times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
        self._days: dict[int, str] = {}

    def _day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
        return text

    def utc(self, seconds: int, zone: str = "+00:00") -> str:
        """``zone`` "Z" is pydantic's JSON form of UTC."""
        day, second = divmod(seconds, 86_400)
        return f"{self._day(day)}T{self._times[second]}{zone}"

    def china(self, seconds: int) -> str:
        day, second = divmod(seconds + _CHINA_OFFSET_S, 86_400)
        return f"{self._day(day)}T{self._times[second]}+08:00"

    def china_day(self, seconds: int) -> str:
        return self._day((seconds + _CHINA_OFFSET_S) // 86_400).replace("-", "")


_CHINA_OFFSET_S = 8 * 3600
_FINDING_NAMESPACE_SHA1 = hashlib.sha1(FINDING_NAMESPACE.bytes, usedforsecurity=False)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _finding_id(reporter: str, client_report_id: str) -> str:
    """``intake.finding_id_for`` (uuid5), from a copied namespace hash: several times faster at a million."""
    digest = _FINDING_NAMESPACE_SHA1.copy()
    digest.update(f"{reporter}\x1f{client_report_id}".encode())
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _uscc(pick: random.Random, county_code: str) -> str:
    """A company of the county with a valid unified social credit code (``sample_day.valid_uscc``'s form), its
    check character computed here rather than through python-stdnum's slower path."""
    body = f"91{county_code}{pick.getrandbits(30) % 10**9:09d}"
    total = sum(int(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total) % 31]


class _Routes:
    """Routing for national cases. The reference data covers one prefecture's 84 townships; each national township
    is routed as one of them (by its place in the national table), and the body found is named in the national
    unit: the same mix of county teams, dispatched agencies, coordination and township delegation as the router
    gives, with the bodies of the case's own county."""

    def __init__(self, reference: ReferenceData, townships: tuple[NationalTownship, ...]) -> None:
        local = sorted(reference.townships)
        self._proxy = {t.code: local[index % len(local)] for index, t in enumerate(townships)}
        self._memo = RoutingMemo(reference)
        self._reference = reference
        # As RoutingMemo: a decision depends on the time only through the catalogue versions and duty grants in
        # force, which change at these instants (kept as POSIX seconds: comparing aware datetimes is slower).
        instants = {v.published_at for v in reference.versions}
        for grant in reference.grants:
            instants |= {grant.effective_from} | ({grant.revoked_from} if grant.revoked_from else set())
        self._changes = sorted(instant.timestamp() for instant in instants)
        self._leads: dict[tuple[str, str, int], tuple[str, bool, str]] = {}
        self._major: dict[tuple[str, int], bool] = {}

    def lead_body(self, township: NationalTownship, category_code: str, at: datetime, seconds: int) -> str:
        proxy = self._proxy[township.code]
        key = (proxy, category_code, bisect.bisect_right(self._changes, seconds))
        lead = self._leads.get(key)
        if lead is None:
            kind, code, *parts = self._memo.route(proxy, category_code, at).lead_body_id.split(":")
            lead = self._leads[key] = (kind, len(code) == 9, "".join(f":{part}" for part in parts))
        kind, of_township, rest = lead
        return f"{kind}:{township.code if of_township else township.county_code}{rest}"

    def major(self, category_code: str, at: datetime, seconds: int) -> bool:
        """As ``routing.is_major_matter``: some item of the category in the catalogue in force is a major matter."""
        key = (category_code, bisect.bisect_right(self._changes, seconds))
        major = self._major.get(key)
        if major is None:
            catalogue = self._reference.catalogue_in_force(at)
            items = self._reference.categories[category_code].item_codes
            major = self._major[key] = any(catalogue.items[code].major for code in items if code in catalogue.items)
        return major


def preload() -> None:
    """Load the maps, the township table and the reference data now (cached): a forked child then shares them."""
    _county_shapes()
    load_national_townships()
    load_reference_data()


def full_state(total: int, seed: int = 38723, now: datetime | None = None, shard: int = 0, shards: int = 1,
               ) -> Iterator[CaseState]:
    """The rows of every dispatch table for ``total`` open cases: the cases of ``open_cases`` (same places,
    categories and groups), each opened by a patrol officer's finding, 30 % with a merged repeat from another source.

    Per case: its ``dedup_cases`` row, one ``dedup_members`` row per finding (a repeat's with its merge rule and
    distance), its ``case_files`` row (the opening finding as ``FindingReported`` JSON), and unless the router
    delegates it to the township, its first ``referrals`` row (``Referral.to_dict()``, in a state from
    ``REFERRAL_STATES``, with the transitions that led there), plus an ``overdue_notices`` row for a referral still
    unanswered past its deadline at ``now`` (the worker writes one at its first deadline check). Ids are derived as
    the services derive them: finding id from the reporter and client id, case id from the opening finding.

    Rows are built as dicts directly (pydantic per row would take minutes at a million); every ``VALIDATE_EVERY``-th
    case is rebuilt through ``FindingReported``, ``OpenCase``, ``Referral`` and the id functions of the services,
    and must come out identical.

    ``shards`` processes can share the work: shard k makes the cases of every ``BLOCK``-th block of serials from
    block k on. Each block draws from its own seed, so a case comes out the same whichever shard makes it.
    """
    now_s = (now or datetime.now(UTC)).timestamp()
    reference = load_reference_data()
    routes = _Routes(reference, load_national_townships())
    texts = _Texts()
    policy = DeadlinePolicy()
    pick = random.Random()
    descriptions = {code: f"巡查發現疑似{c.name}，位置見坐標。" for code, c in reference.categories.items()}
    states = [state.value for state, _share in REFERRAL_STATES]
    cumulative = list(itertools.accumulate(share for _state, share in REFERRAL_STATES))
    deadlines: dict[tuple[str, str], tuple[str, int]] = {}  # (kind, China day) -> the deadline's text and seconds
    checked_shapes: set[tuple[Any, ...]] = set()
    for serial, (township, case) in enumerate(placed_cases(total, seed)):
        block, within = divmod(serial, BLOCK)
        if block % shards != shard:
            continue
        if within == 0:
            pick.seed(f"{seed}:{block}")
        received = case.opened_at
        at = int(received.timestamp())
        officer = f"officer-{township.code}"
        client_id = f"{texts.china_day(at)}-{township.code}-{serial:06d}"
        finding_id = _finding_id(officer, client_id)
        case_id = case.case_id = case_id_for(finding_id)
        subjects: list[dict[str, str]] = []
        if case.subjects:  # the generator's company code has no valid check character: a real one, same county
            code = _uscc(pick, township.county_code)
            subjects = [{"kind": "uscc", "value": code}]
            case.subjects = frozenset({("uscc", code)})
        finding = {
            "schema_version": 1, "finding_id": finding_id, "client_report_id": client_id, "source": "patrol",
            "reporter": officer, "township_code": township.code, "county_code": township.county_code,
            "category_code": case.category_code,
            "location": {"latitude": case.latitude, "longitude": case.longitude, "datum": "WGS-84", "address": None},
            "observed_at": texts.utc(at - 60 * pick.randint(1, 90), "Z"), "received_at": texts.utc(at, "Z"),
            "description": descriptions[case.category_code], "photos": [], "subjects": subjects,
        }
        rows = [dedup.Row(dedup.CASES_TABLE, case_id, None),  # filled in below, once finding_count is known
                dedup.Row(dedup.MEMBERS_TABLE, finding_id, {"case_id": case_id})]
        if serial % 10 < REPEAT_SHARE * 10:  # as in ``rows``: a repeat by another source, a few metres away
            source = pick.choice(SOURCES_FOR_REPEATS)
            reporter = officer if source == "patrol" else f"system-{source}"
            rows.append(dedup.Row(dedup.MEMBERS_TABLE, _finding_id(reporter, f"{client_id}-r-{source}"), {
                "case_id": case_id, "rule": dedup.RULE_SAME_SUBJECT if subjects else dedup.RULE_WITHIN_RADIUS,
                "distance_m": pick.uniform(3, min(30.0, case.radius_m * 0.6))}))
        case.finding_count = len(rows) - 1
        body_id = routes.lead_body(township, case.category_code, received, at)
        # The competent bodies a later report must share to merge (docs/dedup.md): the lead; the national routes
        # model no co-handlers, so none are named.
        case.handled_by, case.township_code = (body_id,), township.code
        rows[0] = dedup.Row(dedup.CASES_TABLE, case_id, {  # OpenCase.to_dict(), its time from the tables above
            "status": "open", "case_id": case_id, "dedup_group": case.dedup_group,
            "category_code": case.category_code, "latitude": case.latitude, "longitude": case.longitude,
            "radius_m": case.radius_m, "subjects": [["uscc", s["value"]] for s in subjects],
            "opened_at": texts.utc(at), "finding_count": case.finding_count, "previous_case_id": None,
            "handled_by": [body_id], "other_categories": [], "township_code": township.code})
        major = routes.major(case.category_code, received, at)
        rows.append(dedup.Row(CASE_FILES_TABLE, case_id, {"finding": finding, "dedup_group": case.dedup_group,
                                                          "previous_case_id": None, "major": major}))
        referral = None
        if not body_id.startswith("township:"):  # delegated to the township: it handles the case, no referral
            if major and not body_id.startswith(COORDINATION_PREFIX):
                accept_by = (texts.china(at + 24 * 3600), at + 24 * 3600)  # 24 hours from issue
            else:
                kind = "dispute" if body_id.startswith(COORDINATION_PREFIX) else "accept"
                accept_by = deadlines.get((kind, texts.china_day(at)), ("", 0))
                if not accept_by[0]:  # working days from the issue day: the same deadline all day long
                    due = policy.dispute_decide_by(received) if kind == "dispute" else policy.accept_by(received, False)
                    accept_by = deadlines[(kind, texts.china_day(at))] = (due.isoformat(), int(due.timestamp()))
            state = states[min(bisect.bisect(cumulative, pick.random() * cumulative[-1]), len(states) - 1)]
            if body_id.startswith(COORDINATION_PREFIX):
                state = "issued"  # a dispute is only ever decided, which ends it: an open one awaits its decision
            referral = _referral(case_id, body_id, township.code, at, accept_by[0], major, state, texts, pick)
            rows.append(dedup.Row(REFERRALS_TABLE, referral["referral_id"], referral))
            if state == "issued" and now_s > accept_by[1]:
                checked = accept_by[1] + pick.randint(0, 60)
                rows.append(dedup.Row(OVERDUE_TABLE, referral["referral_id"], {
                    "deadline": accept_by[0], "at": texts.utc(checked)[:-6] + f".{pick.randrange(10**6):06d}+00:00"}))
        shape = (len(rows), bool(subjects), major, body_id.split(":", 1)[0], referral and referral["state"])
        if serial % VALIDATE_EVERY == 0 or shape not in checked_shapes:  # and the first of every kind of case
            checked_shapes.add(shape)
            _check(case, rows, referral, policy)
        yield CaseState(case.dedup_group, rows)


def _referral(case_id: str, body_id: str, township_code: str, issued_at: int, accept_by: str, major: bool,
              state: str, texts: _Texts, pick: random.Random) -> dict[str, Any]:
    """``Referral.to_dict()`` of a first referral that has reached ``state`` (built directly: see ``full_state``)."""
    referral_id = referral_id_for(case_id, 1)
    township_body = f"township:{township_code}"
    history = []
    for from_state, to_state, action, (earliest, latest), by_township, with_outcome in _HISTORY_OF[state]:
        history.append({
            "referral_id": referral_id, "action": action, "actor_body_id": township_body if by_township else body_id,
            "from_state": from_state, "to_state": to_state,
            "at": texts.utc(issued_at + 3600 * pick.randint(earliest, latest)), "reason": None,
            "outcome": pick.choice(_OUTCOMES) if with_outcome else None,
            "response_id": _uuid_text(pick), "accept_by": None})
    return {"referral_id": referral_id, "case_id": case_id, "body_id": body_id, "township_body_id": township_body,
            "attempt": 1, "issued_at": texts.utc(issued_at), "accept_by": accept_by, "major": major,
            "state": state, "extended": False, "history": history}


def _check(case: dedup.OpenCase, rows: list[dedup.Row], referral: dict[str, Any] | None,
           policy: DeadlinePolicy) -> None:
    """Rebuild one case's rows through the models and functions the services use: a difference is a format drift."""
    def same(what: str, built: Any, written: Any) -> None:
        if built != written:
            raise ValueError(f"generated {what} differs from what the services would write:\n"
                             f"  generated: {written}\n  services:  {built}")

    by_table = {row.table: row for row in rows}
    file = by_table[CASE_FILES_TABLE].value
    assert file is not None
    finding = FindingReported.model_validate(file["finding"])
    same("case_files finding", finding.model_dump(mode="json"), file["finding"])
    same("finding id", finding_id_for(finding.reporter, finding.client_report_id), finding.finding_id)
    for subject in finding.subjects:
        same("subject", normalise_subject(subject.kind, subject.value), subject.value)
    same("case id", case_id_for(finding.finding_id), case.case_id)
    same("dedup_cases row", case.to_dict(), by_table[dedup.CASES_TABLE].value)
    same("dedup_cases row", dedup.OpenCase.from_dict(case.to_dict()).to_dict(), by_table[dedup.CASES_TABLE].value)
    if referral is None:
        return
    issued = Referral.issue(case_id=case.case_id, body_id=referral["body_id"],
                            township_body_id=f"township:{finding.township_code}", attempt=1,
                            issued_at=finding.received_at, major=file["major"], policy=policy)
    for step in referral["history"]:
        issued.handle(step["action"], step["actor_body_id"], at=datetime.fromisoformat(step["at"]),
                      outcome=step["outcome"], response_id=step["response_id"], policy=policy)
    same("referrals row", issued.to_dict(), referral)
    notice = by_table.get(OVERDUE_TABLE)
    if notice is not None:
        assert notice.value is not None
        same("overdue notice deadline", issued.accept_by.isoformat(), notice.value["deadline"])
        if not datetime.fromisoformat(notice.value["at"]) > issued.accept_by:
            raise ValueError(f"overdue notice before its deadline: {notice.value}")


def reports(cases: list[dedup.OpenCase], count: int, seed: int) -> list[dedup.Report]:
    """New findings to decide: half repeat an open case a few metres away, half are somewhere else entirely."""
    pick = random.Random(seed)
    cats = categories()
    out = []
    for index in range(count):
        if index % 2 == 0:
            case = pick.choice(cases)
            lat = case.latitude + pick.uniform(-1, 1) * 0.0002
            lon = case.longitude + pick.uniform(-1, 1) * 0.0002
            group, category, radius, subjects = case.dedup_group, case.category_code, case.radius_m, case.subjects
        else:
            other = pick.choice(cases)  # a real place in China, moved by up to ~5 km
            lat = other.latitude + pick.uniform(-1, 1) * 0.05
            lon = other.longitude + pick.uniform(-1, 1) * 0.05
            chosen = pick.choice(cats)
            group, category, radius, subjects = chosen.dedup_group, chosen.code, chosen.radius_m, frozenset()
        out.append(dedup.Report(
            finding_id=f"bench-report-{seed}-{index}", dedup_group=group, category_code=category,
            latitude=max(-90.0, min(90.0, lat)), longitude=lon, trusted_at=datetime(2026, 11, 27, tzinfo=UTC),
            subjects=subjects, radius_m=radius))
    return out
