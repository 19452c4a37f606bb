"""Open311 servicerequestupdates: which body a work-order key acts for, and what each update status means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import ReferralOutcome, ReturnReason
from services.common.lifecycle import Action
from services.info_share.auth import AuthError, caller_from_work_order_key, parse_work_order_keys
from services.info_share.entrypoints.open311_updates import STATUS_STEPS, _details

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_a_key_acts_for_its_one_body() -> None:
    keys = parse_work_order_keys("team-key-0123456789=wo:team:210603:housing_urban;"
                                 "town-key-0123456789=town-wo:township:210603001")
    team = caller_from_work_order_key("team-key-0123456789", keys)
    assert team.body_ids == {"team:210603:housing_urban"} and team.subject == "wo"
    assert caller_from_work_order_key("town-key-0123456789", keys).body_ids == {"township:210603001"}
    with pytest.raises(AuthError) as refused:
        caller_from_work_order_key("team-key-012345678", keys)
    assert refused.value.status == 403


@pytest.mark.parametrize("raw", ["short=wo:team:210603:housing_urban", "k-0123456789abcdef=wo:coordination:210603",
                                 "k-0123456789abcdef=wo", "k-0123456789abcdef=:team:210603:x"])
def test_bad_key_configuration_fails_at_start(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_work_order_keys(raw)


def test_statuses_map_onto_the_lifecycle_and_codes_refine_them() -> None:
    assert STATUS_STEPS["investigating"][0] is Action.ACCEPT
    assert STATUS_STEPS["in_progress"][0] is Action.START_HANDLING
    fixed = _details(Action.FEED_BACK, ReferralOutcome.RECTIFIED, "penalty_decided", "已处罚", None, AT)
    assert fixed.outcome is ReferralOutcome.PENALTY_DECIDED and fixed.stated_at == AT
    returned = _details(Action.RETURN, ReturnReason.NOT_OUR_DUTY, "wrong_place", None, None, AT)
    assert returned.reason_code is ReturnReason.WRONG_PLACE
    with pytest.raises(ValueError, match="other needs a description"):
        _details(Action.RETURN, ReturnReason.NOT_OUR_DUTY, "other", None, None, AT)
    with pytest.raises(ValueError, match="not an outcome"):
        _details(Action.FEED_BACK, ReferralOutcome.RECTIFIED, "wrong_place", None, None, AT)
    with pytest.raises(ValueError, match="no meaning"):
        _details(Action.ACCEPT, None, "rectified", None, None, AT)
