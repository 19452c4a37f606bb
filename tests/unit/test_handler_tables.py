"""Every case event kind has exactly one handler in each projection of the case events."""

from schemas.events import CASE_EVENT_MODELS, CaseOpened
from services.info_share.adapters.register import projection
from services.patrol.domain import case_view


def test_patrol_case_view_handles_every_case_event() -> None:
    assert set(case_view.HANDLERS) == set(CASE_EVENT_MODELS)


def test_the_register_handles_every_case_event() -> None:
    # CaseOpened makes the case row; every other kind has its handler in the table.
    assert set(projection._HANDLERS) | {CaseOpened} == set(CASE_EVENT_MODELS)
    assert CaseOpened not in projection._HANDLERS
