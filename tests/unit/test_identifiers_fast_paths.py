"""Deterministic ids and subject normalisation: the fast paths give exactly what the plain definitions give.

Ids must never change between versions (replays across versions rely on them), so each is compared with the
definition it has always had: uuid5 over ``json.dumps(parts, ensure_ascii=False)``.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts.sample_day import valid_uscc
from services.common.identifiers import (
    LIANDONG_NAMESPACE,
    InvalidSubject,
    case_id_for,
    event_id_for,
    normalise_subject,
    referral_id_for,
)

PROPERTY = settings(max_examples=400, deadline=None)

# Quotes, backslashes, control characters, JSON's escapes, non-BMP, CJK, line separators and lone surrogates
# (which cannot be encoded as UTF-8: both ways must then fail alike).
TRICKY = st.sampled_from(['"', "\\", "\x00", "\n", "\t", "\x7f", "\u2028", "\u2029", "遼F·12345", "😀", "\ud800",
                          "'", "/", "</script>", "\u00e9"])
TEXT = st.one_of(st.text(), st.lists(TRICKY, max_size=4).map("".join), st.uuids().map(str))
PART = st.one_of(TEXT, st.integers(), st.booleans())


def reference_uuid5(parts: tuple[object, ...]) -> str:
    return str(uuid.uuid5(LIANDONG_NAMESPACE, json.dumps(parts, ensure_ascii=False)))


def outcome(make: object, *args: object) -> tuple[str, str]:
    try:
        return "id", make(*args)  # type: ignore[operator]
    except Exception as exc:
        return type(exc).__name__, str(exc)


class Text(str):
    """A str subclass: json writes its characters like any string."""


@PROPERTY
@given(TEXT)
def test_case_id_is_uuid5_of_case_and_finding(finding_id: str) -> None:
    assert outcome(case_id_for, finding_id) == outcome(reference_uuid5, ("case", finding_id))


@PROPERTY
@given(TEXT, st.one_of(st.integers(), st.booleans()))
def test_referral_id_is_uuid5_of_referral_case_and_attempt(case_id: str, attempt: int) -> None:
    assert outcome(referral_id_for, case_id, attempt) == outcome(reference_uuid5, ("referral", case_id, attempt))


def test_referral_id_cache_keeps_true_and_one_apart() -> None:
    # True == 1 and hash(True) == hash(1), but json writes true and 1: a cache must not mix them up.
    assert referral_id_for("case", 1) == reference_uuid5(("referral", "case", 1))
    assert referral_id_for("case", True) == reference_uuid5(("referral", "case", True))
    assert referral_id_for("case", 1) != referral_id_for("case", True)


@PROPERTY
@given(st.lists(PART, min_size=1, max_size=4))
def test_event_id_is_uuid5_of_event_and_parts(parts: list[str | int]) -> None:
    assert outcome(event_id_for, *parts) == outcome(reference_uuid5, ("event", *parts))


def test_event_id_needs_a_part() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        event_id_for()


@pytest.mark.parametrize("parts", [("a", Text('x"y')), (Text("b"), 3), ("c", 2**80, -7), ("d", 1.5), ("e", None)])
def test_event_id_of_unusual_parts_matches_json(parts: tuple[object, ...]) -> None:
    assert outcome(event_id_for, *parts) == outcome(reference_uuid5, ("event", *parts))


def test_known_ids_never_change() -> None:
    # Written down from the version before the fast paths: if one changes, every replay would emit new ids.
    case_id = case_id_for("f1")
    assert case_id == "db6028e2-a31f-5d47-bdcf-e72b312aa0b1"
    assert referral_id_for(case_id, 1) == "f865b8f3-1024-5d82-8720-e2f8149071da"
    assert event_id_for("case_opened", case_id) == "c97db0be-dfda-5f52-91f9-5ab77a22d0f9"
    assert event_id_for("referral_overdue", "r", "2026-01-01T00:00:00+08:00") == "4d9ddb41-90cf-596b-b586-f4cf94ec00b8"


SUBJECTS = st.one_of(
    st.tuples(st.just("uscc"), st.one_of(st.randoms(use_true_random=False).map(valid_uscc), st.text(max_size=20))),
    st.tuples(st.just("resident_id"), st.text(alphabet="0123456789Xx", max_size=18)),
    st.tuples(st.just("plate"), st.one_of(st.sampled_from(["辽F·12345", "遼F12345", "京A-D1234", "京AD12345",
                                                            "沪I12345", "苏E1234挂", "粤B 1234学"]),
                                          st.text(max_size=10))),
    st.tuples(st.sampled_from(["vin", ""]), st.text(max_size=5)),
)


@PROPERTY
@given(SUBJECTS)
def test_cached_normalisation_matches_the_uncached_one(subject: tuple[str, str]) -> None:
    kind, value = subject
    plain = normalise_subject.__wrapped__  # type: ignore[attr-defined]
    assert outcome(normalise_subject, kind, value) == outcome(plain, kind, value)
    assert outcome(normalise_subject, kind, value) == outcome(plain, kind, value)  # a second time, from the cache


def test_invalid_subject_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidSubject):
            normalise_subject("uscc", "91110000600037341X")
