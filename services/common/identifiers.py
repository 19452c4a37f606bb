"""Deterministic ids (uuid5) and normalisation of subject identifiers: USCC, resident id, vehicle plate."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from functools import lru_cache
from json.encoder import encode_basestring
from typing import cast

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from services.common.privacy import mask_subject

# Fixed forever: every id below is derived from it, so a replay of the same input yields the same ids.
LIANDONG_NAMESPACE = uuid.UUID("b1e13f6e-b95e-4103-8c62-b96f6ee1edcf")

SUBJECT_KINDS = ("uscc", "plate", "resident_id")


# uuid5 is sha1(namespace bytes + name): hashing always starts from the same namespace state, and copying that state
# is several times cheaper than a new sha1 object.
_NAMESPACE_SHA1 = hashlib.sha1(LIANDONG_NAMESPACE.bytes, usedforsecurity=False)
# The RFC 4122 variant puts 10 in the top two bits of byte 8, i.e. of the 17th hex digit.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 0b11] for digit in "0123456789abcdef"}
_JSON_AS_DUMPS = json.JSONEncoder(ensure_ascii=False)  # what json.dumps(..., ensure_ascii=False) builds per call


def _json_items(parts: tuple[str | int, ...]) -> str:
    """The elements of ``json.dumps(parts, ensure_ascii=False)``, without its brackets."""
    # JSON keeps the parts apart unambiguously: ("a", "bc") and ("ab", "c") name different things.
    try:
        # All strings (the usual case): json's own escaping; an int among them raises TypeError, handled below.
        return ", ".join(map(encode_basestring, cast(tuple[str, ...], parts)))
    except TypeError:
        return ", ".join(map(_json_item, parts))


def _json_item(part: str | int) -> str:
    if type(part) is int:
        return int.__repr__(part)
    return _JSON_AS_DUMPS.encode(part)  # bool, int subclasses, anything else: json decides


def _uuid5_of_name(name: str) -> str:
    """``str(uuid.uuid5(LIANDONG_NAMESPACE, name))``, several times faster."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode("utf-8"))
    hex_digits = digest.hexdigest()
    return (f"{hex_digits[:8]}-{hex_digits[8:12]}-5{hex_digits[13:16]}-"
            f"{_VARIANT_DIGIT[hex_digits[16]]}{hex_digits[17:20]}-{hex_digits[20:32]}")


def case_id_for(finding_id: str) -> str:
    """A case is named after the finding that opened it."""
    return _uuid5_of_name('["case", ' + _json_items((finding_id,)) + "]")


# Asked twice in a row per referral issued: by the dispatcher, then by Referral.issue.
@lru_cache(maxsize=1024, typed=True)
def referral_id_for(case_id: str, attempt: int) -> str:
    return _uuid5_of_name(f'["referral", {_json_items((case_id,))}, {_json_items((attempt,))}]')


def event_id_for(*parts: str | int) -> str:
    """Id of an event derived from what caused it, e.g. ``event_id_for("case_opened", finding_id)``."""
    if not parts:
        raise ValueError("event_id_for needs at least one part")
    return _uuid5_of_name('["event", ' + _json_items(parts) + "]")


class InvalidSubject(ValueError):
    """A subject identifier that fails validation; the message shows it as the official audience would (masked)."""

    def __init__(self, kind: str, value: str, reason: str) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {kind} {mask_subject(kind, value)!r}: {reason}")


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


# The same companies and vehicles are reported again and again, and the worker checks every subject twice (before
# deciding, to dead-letter bad ones, then while deciding). Failures are not cached: lru_cache never keeps exceptions.
@lru_cache(maxsize=1 << 14)
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
