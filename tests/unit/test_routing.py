"""Routing: one lead body per finding, by delegation, dispatched agency, county team, or coordination."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.dispatch.domain.routing import RoutingMemo, RoutingRule, route
from services.reference.loader import ReferenceData, load_reference_data

CST = timezone(timedelta(hours=8))
KUANDIAN_TOWN = "210624100"  # 宽甸镇, rural township
HUSHAN = "210624114"  # 虎山镇, border + fishery
QIDAO = "210602002"  # 七道街道, urban sub-district of 元宝区
JINSHAN = "210602101"  # 金山镇, inland town of 元宝区


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, tzinfo=CST)


@pytest.fixture(scope="module")
def ref() -> ReferenceData:
    return load_reference_data()


def test_delegated_item_goes_to_the_township_office(ref: ReferenceData) -> None:
    decision = route(ref, KUANDIAN_TOWN, "illegal_construction", at(2025, 9, 1))
    assert decision.rule == RoutingRule.DELEGATED_TO_TOWNSHIP == "delegated_to_township"
    assert decision.lead_body_id == f"township:{KUANDIAN_TOWN}"
    assert decision.co_body_ids == ()
    assert decision.catalogue_version == "2025.1"
    assert decision.item_codes == ("DD-CF-023", "DD-CF-004", "DD-QZ-002")
    assert "DD-CF-004" in decision.detail and "丹东市联席会议〔2024〕1号" in decision.detail


def test_undelegated_item_goes_to_the_county_team_with_co_handlers(ref: ReferenceData) -> None:
    decision = route(ref, QIDAO, "illegal_construction", at(2025, 9, 1))
    assert decision.rule == RoutingRule.COUNTY_DEPARTMENT
    assert decision.lead_body_id == "team:210602:housing_urban"
    assert decision.co_body_ids == ("team:210602:natural_resources",)
    assert decision.lead_body_id not in decision.co_body_ids  # never two leads
    assert "DD-CF-023" in decision.detail and "元宝区" in decision.detail


def test_dispatched_agency_handles_small_market_items(ref: ReferenceData) -> None:
    decision = route(ref, KUANDIAN_TOWN, "unlicensed_business", at(2025, 9, 1))
    assert decision.rule == RoutingRule.DISPATCHED_AGENCY
    assert decision.lead_body_id == f"agency:{KUANDIAN_TOWN}:market_supervision_office"
    assert decision.co_body_ids == ()  # the agency is the department's own arm: no separate co-handler
    public_order = route(ref, QIDAO, "public_order", at(2025, 9, 1))
    assert public_order.lead_body_id == f"agency:{QIDAO}:police_station"
    dispute = route(ref, HUSHAN, "civil_dispute", at(2025, 9, 1))
    assert dispute.lead_body_id == f"agency:{HUSHAN}:judicial_office"


def test_duty_access_date_decides_between_county_and_township(ref: ReferenceData) -> None:
    before = route(ref, KUANDIAN_TOWN, "rural_homestead_violation", at(2025, 7, 31))
    after = route(ref, KUANDIAN_TOWN, "rural_homestead_violation", at(2025, 8, 1))
    assert before.rule == RoutingRule.COUNTY_DEPARTMENT
    assert before.lead_body_id == "team:210624:agriculture_rural"
    assert before.co_body_ids == ("team:210624:natural_resources",)
    assert after.rule == RoutingRule.DELEGATED_TO_TOWNSHIP
    assert after.lead_body_id == f"township:{KUANDIAN_TOWN}"
    assert after.co_body_ids == ("team:210624:natural_resources",)


def test_revoked_grant_returns_the_matter_to_the_county(ref: ReferenceData) -> None:
    assert route(ref, KUANDIAN_TOWN, "wild_fire_use", at(2024, 10, 1)).lead_body_id == f"township:{KUANDIAN_TOWN}"
    after = route(ref, KUANDIAN_TOWN, "wild_fire_use", at(2025, 7, 2))
    assert after.lead_body_id == "team:210624:forestry_grassland"


def test_major_matters_are_flagged(ref: ReferenceData) -> None:
    decision = route(ref, KUANDIAN_TOWN, "work_safety_hazard", at(2025, 9, 1))
    assert decision.major is True
    assert decision.lead_body_id == "team:210624:emergency_management"
    assert decision.co_body_ids == ()
    assert route(ref, KUANDIAN_TOWN, "street_vending", at(2025, 9, 1)).major is False


def test_reroute_after_returns_walks_the_competent_bodies_then_coordination(ref: ReferenceData) -> None:
    when = at(2025, 9, 1)
    first = route(ref, KUANDIAN_TOWN, "illegal_construction", when)
    second = route(ref, KUANDIAN_TOWN, "illegal_construction", when, frozenset({first.lead_body_id}))
    assert second.rule == RoutingRule.COUNTY_DEPARTMENT
    assert second.lead_body_id == "team:210624:housing_urban"
    assert second.co_body_ids == ("team:210624:natural_resources",)
    third = route(ref, KUANDIAN_TOWN, "illegal_construction", when,
                  frozenset({first.lead_body_id, second.lead_body_id}))
    assert third.lead_body_id == "team:210624:natural_resources"
    assert third.co_body_ids == ()  # the returned team is not brought back as co-handler
    last = route(ref, KUANDIAN_TOWN, "illegal_construction", when,
                 frozenset({first.lead_body_id, second.lead_body_id, third.lead_body_id}))
    assert last.rule == RoutingRule.NO_COMPETENT_BODY
    assert last.lead_body_id == "coordination:210624"
    assert last.co_body_ids == ()
    assert "退回" in last.detail


def test_reroute_from_agency_goes_to_its_county_team(ref: ReferenceData) -> None:
    agency = f"agency:{KUANDIAN_TOWN}:market_supervision_office"
    decision = route(ref, KUANDIAN_TOWN, "food_safety", at(2025, 9, 1), frozenset({agency}))
    assert decision.rule == RoutingRule.COUNTY_DEPARTMENT
    assert decision.lead_body_id == "team:210624:market_supervision"


def test_category_without_items_in_the_township_goes_to_coordination(ref: ReferenceData) -> None:
    decision = route(ref, JINSHAN, "illegal_fishing", at(2025, 9, 1))
    assert decision.rule == RoutingRule.NO_COMPETENT_BODY
    assert decision.lead_body_id == "coordination:210602"
    assert decision.item_codes == ()
    fishing = route(ref, HUSHAN, "illegal_fishing", at(2025, 9, 1))
    assert fishing.lead_body_id == "team:210624:fishery"
    assert fishing.co_body_ids == ("team:210624:public_security",)


def test_item_not_yet_in_the_catalogue_goes_to_coordination(ref: ReferenceData) -> None:
    before = route(ref, QIDAO, "catering_fumes", at(2025, 6, 30))
    assert before.rule == RoutingRule.NO_COMPETENT_BODY and before.catalogue_version == "2024.1"
    after = route(ref, QIDAO, "catering_fumes", at(2025, 7, 1))
    assert after.lead_body_id == "team:210602:housing_urban"


def test_before_any_catalogue_goes_to_coordination(ref: ReferenceData) -> None:
    decision = route(ref, KUANDIAN_TOWN, "food_safety", at(2023, 6, 1))
    assert decision.rule == RoutingRule.NO_COMPETENT_BODY
    assert decision.lead_body_id == "coordination:210624"
    assert decision.catalogue_version == ""


def test_every_category_routes_to_a_real_body_everywhere(ref: ReferenceData) -> None:
    when = at(2025, 9, 15)
    for township in ref.townships:
        for category in ref.categories:
            decision = route(ref, township, category, when)
            assert ref.body(decision.lead_body_id)
            assert all(ref.body(b) for b in decision.co_body_ids)
            assert decision.lead_body_id not in decision.co_body_ids
            available = category in ref.categories_for_township(township, when)
            assert (decision.rule != RoutingRule.NO_COMPETENT_BODY) == available


def test_unknown_codes_are_refused(ref: ReferenceData) -> None:
    with pytest.raises(KeyError, match="unknown township"):
        route(ref, "999999999", "food_safety", at(2025, 9, 1))
    with pytest.raises(KeyError, match="unknown category"):
        route(ref, KUANDIAN_TOWN, "alien_landing", at(2025, 9, 1))


def test_the_routing_memo_decides_exactly_as_route_around_every_instant_the_catalogue_changes() -> None:
    reference = load_reference_data()
    memo = RoutingMemo(reference)
    instants = sorted({v.published_at for v in reference.versions}
                      | {g.effective_from for g in reference.grants}
                      | {g.revoked_from for g in reference.grants if g.revoked_from is not None})
    moments = [i + d for i in instants for d in (-timedelta(microseconds=1), timedelta(0), timedelta(days=3))]
    townships = sorted(reference.townships)[::7]
    compared = 0
    for at in moments * 2:  # the second pass answers from the memo
        for township in townships:
            for category in reference.categories:
                assert memo.route(township, category, at) == route(reference, township, category, at)
                compared += 1
    assert compared > 1000
