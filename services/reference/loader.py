"""Loads and validates the packaged reference data, answers time-dependent power-list questions, derives the bodies."""

from __future__ import annotations

import csv
import gzip
import io
import json
from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from services.reference.model import (
    BodyKind,
    CatalogueVersion,
    Category,
    County,
    Department,
    DutyGrant,
    EnforcementBody,
    NationalTownship,
    PowerItem,
    PowerKind,
    SubjectKind,
    Township,
    TownshipKind,
)

DATA_DIR = Path(__file__).parent / "data"
AGENCY_NAMES = {"police_station": "公安派出所", "market_supervision_office": "市场监督管理所",
                "judicial_office": "司法所"}
# Each dispatched agency stays under its own department's vertical management.
_AGENCY_DEPARTMENT = {"police_station": "public_security", "market_supervision_office": "market_supervision",
                      "judicial_office": "justice"}
SPECIAL_OFFICES = frozenset({"fishery", "border"})
# The county judicial bureau settles jurisdiction disputes, so the coordination body belongs to it.
COORDINATION_DEPARTMENT = "justice"


def township_office_id(township_code: str) -> str:
    return f"township:{township_code}"


def team_id(county_code: str, department: str) -> str:
    return f"team:{county_code}:{department}"


def agency_id(township_code: str, agency: str) -> str:
    return f"agency:{township_code}:{agency}"


def coordination_id(county_code: str) -> str:
    return f"coordination:{county_code}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def microseconds_since_epoch(at: datetime) -> int:
    """An aware datetime as an int that orders exactly as the datetimes do, and compares without utcoffset() calls."""
    return (at - _EPOCH) // _MICROSECOND  # exact: timedelta arithmetic is in whole microseconds


def _aware(at: datetime, what: str) -> datetime:
    # Comparing naive and aware datetimes raises deep inside; refuse naive ones up front with a clear message.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at.isoformat()}")
    return at


class ReferenceData:
    """Divisions, departments, the versioned power catalogue with duty-access grants, categories and bodies."""

    def __init__(self, *, counties: Mapping[str, County], townships: Mapping[str, Township],
                 departments: Mapping[str, Department], items: Mapping[str, PowerItem],
                 versions: tuple[CatalogueVersion, ...], grants: tuple[DutyGrant, ...],
                 categories: Mapping[str, Category], provenance: Mapping[str, Any]) -> None:
        self.counties = MappingProxyType(dict(counties))
        self.townships = MappingProxyType(dict(townships))
        self.departments = MappingProxyType(dict(departments))
        self.items = MappingProxyType(dict(items))  # every item of every version
        self.versions = versions  # oldest first
        self.grants = grants
        self.categories = MappingProxyType(dict(categories))
        self.provenance = MappingProxyType(dict(provenance))
        self._bodies = MappingProxyType({b.body_id: b for b in _derive_bodies(self)})
        self._change_instants = sorted({v.published_at for v in versions} | {g.effective_from for g in grants}
                                       | {g.revoked_from for g in grants if g.revoked_from is not None})
        self._change_microseconds = [microseconds_since_epoch(instant) for instant in self._change_instants]
        self._category_lists: dict[tuple[str, int], dict[str, Category]] = {}
        self._township_lists: dict[tuple[str, int], dict[str, bool]] = {}
        # Each item has at most a handful of grants; scanning only those keeps the grants' order, so the first grant
        # in force found is the same one.
        grants_by_item: dict[str, list[DutyGrant]] = {}
        for grant in grants:
            grants_by_item.setdefault(grant.item_code, []).append(grant)
        self._grants_by_item = {code: tuple(found) for code, found in grants_by_item.items()}

    def township(self, code: str) -> Township:
        try:
            return self.townships[code]
        except KeyError:
            raise KeyError(f"unknown township code {code!r}") from None

    def catalogue_in_force(self, at: datetime) -> CatalogueVersion:
        """The latest catalogue version published at or before ``at``; LookupError before the first one."""
        _aware(at, "at")
        for version in reversed(self.versions):
            if version.published_at <= at:
                return version
        first = self.versions[0]
        raise LookupError(f"no power catalogue in force at {at.isoformat()}: the first version "
                          f"{first.version} was published {first.published_at.isoformat()}")

    def grant_in_force(self, item_code: str, township_code: str, at: datetime) -> DutyGrant | None:
        """The approved duty-access grant that makes ``item_code`` the township's own at ``at``, if any."""
        _aware(at, "at")
        township = self.township(township_code)
        for grant in self._grants_by_item.get(item_code, ()):
            if not (grant.effective_from <= at):
                continue
            if grant.revoked_from is not None and at >= grant.revoked_from:
                continue
            if grant.township_codes:
                if township.code in grant.township_codes:
                    return grant
            elif not grant.county_code or grant.county_code == township.county_code:
                return grant
        return None

    def township_items(self, township_code: str, at: datetime) -> dict[str, bool]:
        """一乡一单: item code -> delegated to this township, for the catalogue in force at ``at``.

        Items tied to a special office the township lacks are left out. A delegable item counts as delegated only
        through a grant in force; without one it stays with the county department.
        """
        return dict(self.township_list(township_code, at))

    def township_list(self, township_code: str, at: datetime) -> Mapping[str, bool]:
        """``township_items`` computed once per township and epoch (see ``_epoch``), shared: read it, never write it.

        Routing asks for every new case; building the list scans every item of the catalogue and its grants.
        """
        township = self.township(township_code)
        key = (township.code, self._epoch(at))
        found = self._township_lists.get(key)
        if found is None:
            version = self.catalogue_in_force(at)
            found = self._township_lists[key] = {
                code: item.delegable and self.grant_in_force(code, township.code, at) is not None
                for code, item in version.items.items()
                if item.special_office is None or item.special_office in township.special_offices
            }
        return MappingProxyType(found)

    def categories_for_township(self, township_code: str, at: datetime) -> dict[str, Category]:
        """Categories the township's patrol can report at ``at`` (by code): those with an item in its list.

        Computed once per township and epoch (see ``_epoch``) and copied out: patrol asks for every finding.
        """
        key = (township_code, self._epoch(at))
        found = self._category_lists.get(key)
        if found is None:
            listed = self.township_list(township_code, at)  # raises for an unknown township or before any version
            found = {code: c for code, c in self.categories.items() if any(i in listed for i in c.item_codes)}
            self._category_lists[key] = found
        return dict(found)

    def _epoch(self, at: datetime) -> int:
        """Index of the interval between two instants at which the lists change (a catalogue version published, a
        grant taking effect or revoked): ``township_items`` and ``grant_in_force`` give the same answer for any two
        times of one interval, since each compares ``at`` only with such instants."""
        return bisect_right(self._change_microseconds, microseconds_since_epoch(_aware(at, "at")))

    def body(self, body_id: str) -> EnforcementBody:
        try:
            return self._bodies[body_id]
        except KeyError:
            raise KeyError(f"unknown enforcement body {body_id!r}") from None

    def bodies(self) -> tuple[EnforcementBody, ...]:
        return tuple(self._bodies.values())


def _derive_bodies(ref: ReferenceData) -> list[EnforcementBody]:
    # Bodies follow from divisions and departments, so they are derived rather than stored: one team per
    # department per county, one office and three dispatched agencies per township, one coordination per county.
    bodies: list[EnforcementBody] = []
    for county in ref.counties.values():
        justice = ref.departments[COORDINATION_DEPARTMENT].name
        bodies.append(EnforcementBody(coordination_id(county.code), f"{county.name}{justice}（执法协调）",
                                      BodyKind.COUNTY_COORDINATION, county.code, department=COORDINATION_DEPARTMENT))
        bodies.extend(
            EnforcementBody(team_id(county.code, d.code), f"{county.name}{d.name}执法队伍", BodyKind.COUNTY_TEAM,
                            county.code, department=d.code)
            for d in ref.departments.values()
        )
    for t in ref.townships.values():
        bodies.append(EnforcementBody(township_office_id(t.code), f"{t.name}综合行政执法办公室",
                                      BodyKind.TOWNSHIP_OFFICE, t.county_code, township_code=t.code))
        bodies.extend(
            EnforcementBody(agency_id(t.code, kind), f"{t.name}{label}", BodyKind.DISPATCHED_AGENCY, t.county_code,
                            township_code=t.code, department=_AGENCY_DEPARTMENT[kind])
            for kind, label in AGENCY_NAMES.items()
        )
    return bodies


def _read_json(name: str) -> dict[str, Any]:
    with (DATA_DIR / name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _time(value: str, what: str) -> datetime:
    return _aware(datetime.fromisoformat(value), what)


def _parse_item(raw: dict[str, Any], departments: Mapping[str, Department]) -> PowerItem:
    code = raw["code"]
    for dept in (raw["department"], *raw.get("co_departments", [])):
        if dept not in departments:
            raise ValueError(f"power item {code}: unknown department code {dept!r}")
    agency = raw.get("dispatched_agency")
    if agency is not None and agency not in AGENCY_NAMES:
        raise ValueError(f"power item {code}: unknown dispatched agency {agency!r}")
    office = raw.get("special_office")
    if office is not None and office not in SPECIAL_OFFICES:
        raise ValueError(f"power item {code}: unknown special office {office!r}")
    return PowerItem(code=code, name=raw["name"], kind=PowerKind(raw["kind"]), legal_basis=raw["legal_basis"],
                     department=raw["department"], delegable=bool(raw["delegable"]), dispatched_agency=agency,
                     special_office=office, major=bool(raw["major"]),
                     co_departments=tuple(raw.get("co_departments", [])))


def _parse_grant(raw: dict[str, Any], items: Mapping[str, PowerItem], counties: Mapping[str, County],
                 townships: Mapping[str, Township]) -> DutyGrant:
    code = raw["item_code"]
    if code not in items:
        raise ValueError(f"duty grant {raw['approval_ref']}: unknown item code {code!r}")
    if not items[code].delegable:
        raise ValueError(f"duty grant {raw['approval_ref']}: item {code} is not delegable to townships")
    if raw.get("county_code") and raw["county_code"] not in counties:
        raise ValueError(f"duty grant {raw['approval_ref']}: unknown county code {raw['county_code']!r}")
    unknown = sorted(set(raw.get("township_codes", [])) - set(townships))
    if unknown:
        raise ValueError(f"duty grant {raw['approval_ref']}: unknown township codes {unknown}")
    grant = DutyGrant(
        item_code=code, approval_ref=raw["approval_ref"], approved_at=_time(raw["approved_at"], "approved_at"),
        effective_from=_time(raw["effective_from"], "effective_from"), county_code=raw.get("county_code", ""),
        township_codes=frozenset(raw.get("township_codes", [])),
        revoked_from=_time(raw["revoked_from"], "revoked_from") if raw.get("revoked_from") else None,
    )
    # Duty access: a duty takes effect only after review and approval, never before.
    if grant.effective_from < grant.approved_at:
        raise ValueError(f"duty grant {grant.approval_ref} for {code} takes effect before it was approved")
    if grant.revoked_from is not None and grant.revoked_from <= grant.effective_from:
        raise ValueError(f"duty grant {grant.approval_ref} for {code} is revoked before it takes effect")
    return grant


def _parse_versions(catalogue: dict[str, Any], items: Mapping[str, PowerItem],
                    grants: tuple[DutyGrant, ...]) -> tuple[CatalogueVersion, ...]:
    order = [v["version"] for v in catalogue["versions"]]
    if len(set(order)) != len(order):
        raise ValueError(f"duplicate catalogue versions in {order}")
    # An item belongs to every version from the one it was added in up to (excluding) the one it was removed in.
    spans: dict[str, range] = {}
    for raw in catalogue["items"]:
        added, removed = raw["added_in"], raw.get("removed_in")
        for label in (added, removed):
            if label is not None and label not in order:
                raise ValueError(f"power item {raw['code']}: names unknown catalogue version {label!r}")
        spans[raw["code"]] = range(order.index(added), order.index(removed) if removed else len(order))
    versions = []
    for index, raw in enumerate(catalogue["versions"]):
        members = {code: item for code, item in items.items() if index in spans[code]}
        versions.append(CatalogueVersion(
            version=raw["version"], published_at=_time(raw["published_at"], "published_at"), items=members,
            grants=tuple(g for g in grants if g.item_code in members), title=raw.get("title", ""),
            approval_ref=raw.get("approval_ref", ""),
        ))
    published = [v.published_at for v in versions]
    if published != sorted(published) or len(set(published)) != len(published):
        raise ValueError("catalogue versions must be listed oldest first with distinct publication times")
    return tuple(versions)


def _parse_category(raw: dict[str, Any], items: Mapping[str, PowerItem]) -> Category:
    missing = [c for c in raw["item_codes"] if c not in items]
    if missing:
        raise ValueError(f"category {raw['code']}: item codes {missing} do not exist in the power catalogue")
    if not raw["item_codes"]:
        raise ValueError(f"category {raw['code']}: maps to no power item")
    return Category(code=raw["code"], name=raw["name"], item_codes=tuple(raw["item_codes"]),
                    dedup_group=raw["dedup_group"], dedup_radius_m=float(raw.get("dedup_radius_m", 50.0)),
                    subject_kinds=tuple(SubjectKind(s) for s in raw.get("subject_kinds", [])))


def _parse_divisions(raw: dict[str, Any]) -> tuple[dict[str, County], dict[str, Township]]:
    counties = {c["code"]: County(code=c["code"], name=c["name"]) for c in raw["counties"]}
    townships: dict[str, Township] = {}
    for t in raw["townships"]:
        if t["county_code"] not in counties or not t["code"].startswith(t["county_code"]) or len(t["code"]) != 9:
            raise ValueError(f"township {t['code']} {t['name']}: code does not sit under county {t['county_code']}")
        offices = frozenset(t.get("special_offices", []))
        if offices - SPECIAL_OFFICES:
            raise ValueError(f"township {t['code']}: unknown special offices {sorted(offices - SPECIAL_OFFICES)}")
        townships[t["code"]] = Township(code=t["code"], name=t["name"], county_code=t["county_code"],
                                        kind=TownshipKind(t["kind"]), special_offices=offices)
    return counties, townships


def build_reference_data(divisions: dict[str, Any], catalogue: dict[str, Any],
                         categories: dict[str, Any]) -> ReferenceData:
    """Validate the three documents and assemble them; ValueError names the first inconsistency found."""
    counties, townships = _parse_divisions(divisions)
    departments = {d["code"]: Department(code=d["code"], name=d["name"]) for d in catalogue["departments"]}
    if COORDINATION_DEPARTMENT not in departments:
        raise ValueError(f"department {COORDINATION_DEPARTMENT!r} (county coordination) is missing")
    items: dict[str, PowerItem] = {}
    for raw in catalogue["items"]:
        if raw["code"] in items:
            raise ValueError(f"duplicate power item code {raw['code']}")
        items[raw["code"]] = _parse_item(raw, departments)
    grants = tuple(_parse_grant(g, items, counties, townships) for g in catalogue.get("grants", []))
    versions = _parse_versions(catalogue, items, grants)
    parsed = [_parse_category(c, items) for c in categories["categories"]]
    if len({c.code for c in parsed}) != len(parsed):
        raise ValueError("duplicate category codes")
    return ReferenceData(
        counties=counties, townships=townships, departments=departments, items=items, versions=versions,
        grants=grants, categories={c.code: c for c in parsed},
        provenance={"divisions": divisions.get("provenance", {}), "catalogue": catalogue.get("provenance", {}),
                    "catalogue_notice": catalogue.get("notice", "")},
    )


@cache
def load_reference_data() -> ReferenceData:
    """The packaged reference data, read and validated once per process."""
    return build_reference_data(_read_json("dandong_divisions.json"), _read_json("power_catalogue.json"),
                                _read_json("categories.json"))


@cache
def load_national_townships() -> tuple[NationalTownship, ...]:
    """All township-level units of China (MCA table, 2025-12-31); read lazily since only simulations need it."""
    with gzip.open(DATA_DIR / "national_townships.csv.gz", "rb") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8")
        return tuple(NationalTownship(**row) for row in csv.DictReader(text))
