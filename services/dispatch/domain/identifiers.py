"""Deterministic ids (uuid5) and normalisation of subject identifiers: USCC, resident id, vehicle plate."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

# Fixed forever: every id below is derived from it, so a replay of the same input yields the same ids.
LIANDONG_NAMESPACE = uuid.UUID("b1e13f6e-b95e-4103-8c62-b96f6ee1edcf")

SUBJECT_KINDS = ("uscc", "plate", "resident_id")


def _uuid5(parts: tuple[str | int, ...]) -> str:
    # JSON keeps the parts apart unambiguously: ("a", "bc") and ("ab", "c") name different things.
    return str(uuid.uuid5(LIANDONG_NAMESPACE, json.dumps(parts, ensure_ascii=False)))


def case_id_for(finding_id: str) -> str:
    """A case is named after the finding that opened it."""
    return _uuid5(("case", finding_id))


def referral_id_for(case_id: str, attempt: int) -> str:
    return _uuid5(("referral", case_id, attempt))


def event_id_for(*parts: str | int) -> str:
    """Id of an event derived from what caused it, e.g. ``event_id_for("case_opened", finding_id)``."""
    if not parts:
        raise ValueError("event_id_for needs at least one part")
    return _uuid5(("event", *parts))


class InvalidSubject(ValueError):
    """A subject identifier that fails validation; the message masks resident ids (personal data)."""

    def __init__(self, kind: str, value: str, reason: str) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {kind} {_masked(kind, value)!r}: {reason}")


def _masked(kind: str, value: str) -> str:
    if kind != "resident_id" or len(value) <= 10:
        return value if kind != "resident_id" else "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


# Province abbreviations on plates, simplified and traditional; both normalise to the traditional form the project
# writes (遼F12345), so a plate typed either way is the same subject.
_PROVINCES_SIMPLIFIED = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
_PROVINCES_TRADITIONAL = "京津冀晉蒙遼吉黑滬蘇浙皖閩贛魯豫鄂湘粵桂瓊渝川貴雲藏陝甘青寧新"
_SUFFIX_SIMPLIFIED = "挂学警"
_SUFFIX_TRADITIONAL = "掛學警"
_TO_TRADITIONAL = str.maketrans(
    _PROVINCES_SIMPLIFIED + _SUFFIX_SIMPLIFIED, _PROVINCES_TRADITIONAL + _SUFFIX_TRADITIONAL
)
# Plates never use I or O (they read as 1 and 0).
_ALNUM = "[A-HJ-NP-Z0-9]"
_PLATE = re.compile(
    rf"^[{_PROVINCES_TRADITIONAL}][A-HJ-NP-Z]"
    rf"(?:{_ALNUM}{{5}}|{_ALNUM}{{6}}|{_ALNUM}{{4}}[{_SUFFIX_TRADITIONAL}])$"
)
_PLATE_SEPARATORS = re.compile(r"[\s·•・.\-]")


def _normalise_plate(value: str) -> str:
    plate = _PLATE_SEPARATORS.sub("", value).upper().translate(_TO_TRADITIONAL)
    if not _PLATE.match(plate):
        raise InvalidSubject(
            "plate", value,
            "expected province abbreviation + letter + 5 characters (6 for new-energy, or 4 + 掛/學/警); no I or O",
        )
    return plate


def normalise_subject(kind: str, value: str) -> str:
    """The canonical form of a subject identifier; raises ``InvalidSubject`` when it fails its check."""
    if kind == "uscc":
        return _validated(kind, value, uscc.validate)
    if kind == "resident_id":
        return _validated(kind, value, ric.validate)
    if kind == "plate":
        return _normalise_plate(value)
    raise InvalidSubject(kind, value, f"unknown subject kind; expected one of {', '.join(SUBJECT_KINDS)}")


def _validated(kind: str, value: str, validate: Callable[[str], str]) -> str:
    try:
        return validate(value.upper())
    except ValidationError as exc:
        raise InvalidSubject(kind, value, str(exc)) from None


def normalise_subjects(pairs: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """Normalise ``(kind, value)`` pairs into the set a ``Report`` carries."""
    return frozenset((kind, normalise_subject(kind, value)) for kind, value in pairs)
