"""Find personal data in text: resident ids, phone numbers, vehicle plates, personal business codes, names.

Each detector reads the folded text (``fold``: full-width, case and spelled-out digits made plain, one character for
one) and gives spans of the text as written. What each part does:

* resident ids — 18 characters, digit groups split by up to three separators (spaces, hyphens, dots, ``·``, ``/``,
  ``_``, mixed), glued to letters or Han characters or not, accepted by ``stdnum.cn.ric`` (check character, birth
  date and a division code it knows); an id wrong only in its check character but with a real province and birth
  date is still taken (a mistyped id still tells who was born where and when); 15-digit first-generation ids with a
  real province and date.
* phone numbers — mainland mobiles and landlines written with any of those separators (``+86``/``0086`` optional,
  area code in brackets or not), each confirmed by ``phonenumbers.is_valid_number``; then ``phonenumbers``' own
  matcher for whatever else it recognises (400 numbers, other countries).
* plates — province character + city letter + 5 or 6 characters (a 挂/学/警/港/澳 suffix allowed), any case.
* business credit codes of individual businesses (个体工商户, type ``92``): ``stdnum.cn.uscc`` accepts them and
  they name the person who runs it; companies' codes (legal persons) are not personal data and are left.
* names — see ``names.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from stdnum.cn import ric, uscc

from services.common.privacy.fold import fold
from services.common.privacy.names import find_names


class PiiKind(StrEnum):
    RESIDENT_ID = "resident_id"
    PHONE = "phone"
    PLATE = "plate"
    BUSINESS_CODE = "business_code"  # an individual business's credit code: names its owner
    NAME = "name"


@dataclass(frozen=True)
class Found:
    kind: PiiKind
    start: int
    end: int
    value: str  # as written in the text
    canonical: str  # digits/characters only, folded: what the masks are computed from


_SEP = r"[\s\-.·/_]{0,3}"
_D = "[0-9]"
_RIC_18 = re.compile(rf"(?<![0-9])({_D}(?:{_SEP}{_D}){{16}}{_SEP}[0-9X])(?![0-9])")
_RIC_15 = re.compile(rf"(?<![0-9])({_D}(?:{_SEP}{_D}){{14}})(?![0-9X])")
_MOBILE = re.compile(rf"(?<![0-9])((?:(?:\+|00)?86{_SEP})?1{_SEP}[3-9](?:{_SEP}{_D}){{9}})(?![0-9])")
_AREA = rf"(?:\(0?[1-9]{_D}{{1,2}}\)|0{_SEP}[1-9](?:{_SEP}{_D}){{1,2}})"  # (0415), 0415, 0 415 (full-width: folded)
_LANDLINE = re.compile(rf"(?<![0-9])((?:(?:\+|00)?86{_SEP})?{_AREA}{_SEP}[2-9](?:{_SEP}{_D}){{6,7}})(?![0-9])")
_USCC = re.compile(r"(?<![0-9A-Z])([0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Z])")
_PROVINCE_CHARS = "京津沪滬渝冀豫云雲辽遼黑湘皖鲁魯新苏蘇浙赣贛鄂桂甘晋晉蒙陕陝吉闽閩贵貴粤粵青藏川宁寧琼瓊"
_PLATE = re.compile(rf"([{_PROVINCE_CHARS}]){_SEP}([A-HJ-NP-Z]){_SEP}"
                    rf"((?:[A-HJ-NP-Z0-9]{_SEP}){{4,5}}[A-HJ-NP-Z0-9挂掛学學警港澳])(?![A-Z0-9])")
_NOT_CANONICAL = re.compile(r"[^0-9A-Z\u4e00-\u9fff]")
_PROVINCE_CODES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                             50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82})
_FIXED = frozenset({phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
                    phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.SHARED_COST,
                    phonenumbers.PhoneNumberType.VOIP, phonenumbers.PhoneNumberType.UAN})
_MOBILES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})
# No phone number, id or plate has fewer digits than this: text with fewer cannot hold one (names aside).
MIN_DIGITS = 5


def canonical(value: str) -> str:
    """Folded, without separators: ``210681－19930625－3555`` → ``210681199306253555``."""
    return _NOT_CANONICAL.sub("", fold(value))


def is_resident_id(value: str) -> bool:
    """A valid resident id, or one wrong only in its check character with a real province and birth date; also
    a 15-digit first-generation id with a real province and date."""
    return _is_resident_id(canonical(value))


@lru_cache(maxsize=4096)
def _is_resident_id(compact: str) -> bool:
    if len(compact) == 18:
        # Every id stdnum accepts has a real province and birth date, so that check comes first: it is cheap, and
        # stdnum's division lookup (~5 ms) is needed only to tell an id from an all-digit business code.
        if not (compact[:17].isdigit() and _plausible(compact[:6], compact[6:14])):
            return False
        return not uscc.is_valid(compact) or ric.is_valid(compact)
    return len(compact) == 15 and compact.isdigit() and _plausible(compact[:6], "19" + compact[6:12])


def is_personal_business_code(value: str) -> bool:
    compact = canonical(value)
    return compact.startswith("92") and uscc.is_valid(compact)


def find_personal_data(text: str, *, names: bool = True) -> list[Found]:
    """Every personal datum in ``text``, in order, without overlaps (an id wins over a phone number inside it)."""
    folded = fold(text)
    found: list[Found] = []
    if sum(c.isdigit() for c in folded) >= MIN_DIGITS:
        codes, code_spans = _business_codes(text, folded)
        found += [*_resident_ids(text, folded), *codes, *(
            phone for phone in _phones(text, folded)
            if all(phone.end <= start or phone.start >= end for start, end in code_spans))]
    found += _plates(text, folded)  # a plate may have no digit at all (辽FLCQFF)
    if names:
        found += [Found(PiiKind.NAME, s, e, text[s:e], text[s:e]) for s, e in find_names(text)]
    return _without_overlaps(found)


def _resident_ids(text: str, folded: str) -> Iterator[Found]:
    for pattern in (_RIC_18, _RIC_15):
        for m in pattern.finditer(folded):
            start, end = m.span(1)
            if is_resident_id(m.group(1)):
                yield Found(PiiKind.RESIDENT_ID, start, end, text[start:end], canonical(m.group(1)))


def _business_codes(text: str, folded: str) -> tuple[list[Found], list[tuple[int, int]]]:
    """Individual businesses' codes (personal data), and the spans of every valid code: no phone number is read
    inside a company's code either."""
    personal, spans = [], []
    for m in _USCC.finditer(folded):
        if uscc.is_valid(m.group(1)):
            spans.append(m.span(1))
            if m.group(1).startswith("92"):
                personal.append(Found(PiiKind.BUSINESS_CODE, *m.span(1), text[m.start(1):m.end(1)], m.group(1)))
    return personal, spans


def _phones(text: str, folded: str) -> Iterator[Found]:
    for pattern, types in ((_MOBILE, _MOBILES), (_LANDLINE, _FIXED)):
        for m in pattern.finditer(folded):
            number = _parse(m.group(1))
            if number is not None and phonenumbers.number_type(number) in types:
                yield _phone(text, m.start(1), m.end(1), number)
    # POSSIBLE leniency, then a validity check: VALID leniency skips numbers glued to Latin letters.
    for match in phonenumbers.PhoneNumberMatcher(folded, "CN", leniency=phonenumbers.Leniency.POSSIBLE):
        if phonenumbers.is_valid_number(match.number):
            start = match.start
            # "（13812345678）" matches from the opening bracket: keep it, the closing one stays in the text.
            if match.raw_string[:1] in "(" and ")" not in match.raw_string:
                start += 1
            yield _phone(text, start, match.end, match.number)


def _parse(written: str) -> phonenumbers.PhoneNumber | None:
    digits = re.sub(r"[^0-9+]", "", written)
    digits = "+" + digits[2:] if digits.startswith("00") else digits
    try:
        number = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        return None
    return number if number.country_code == 86 and phonenumbers.is_valid_number(number) else None


def _phone(text: str, start: int, end: int, number: phonenumbers.PhoneNumber) -> Found:
    return Found(PiiKind.PHONE, start, end, text[start:end],
                 phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _plates(text: str, folded: str) -> list[Found]:
    return [Found(PiiKind.PLATE, m.start(), m.end(), text[m.start():m.end()], canonical(m.group()))
            for m in _PLATE.finditer(folded)]


def _without_overlaps(found: list[Found]) -> list[Found]:
    # Earlier detectors are stronger evidence (a checksum beats a number shape): on overlap the first listed wins.
    priority = {id(f): i for i, f in enumerate(found)}
    kept: list[Found] = []
    for candidate in sorted(found, key=lambda f: priority[id(f)]):
        if all(candidate.end <= k.start or candidate.start >= k.end for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda f: f.start)


def _plausible(division: str, birth: str) -> bool:
    if not (division.isdigit() and birth.isdigit()) or int(division[:2]) not in _PROVINCE_CODES:
        return False
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date(2100, 1, 1)
