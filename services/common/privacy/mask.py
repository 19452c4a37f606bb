"""How each kind of personal datum is shown to someone not entitled to it: one form per kind, everywhere.

A masked value keeps what the context already tells (the division a resident id was issued in, a phone number's
carrier or area, a plate's province and city) and hides what identifies the person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import phonenumbers

from services.common.privacy.detect import Found, PiiKind, canonical, find_personal_data, is_personal_business_code
from services.common.privacy.names import surname_of

MASK = "*"
# Texts seen to hold nothing (township codes, category codes, client keys: the same few hundred again and again),
# so the detectors (~50-250 µs a text, phonenumbers' matcher most of it) run once for each. Only texts returned
# unchanged are kept: never one that held personal data.
_CLEAN: dict[str, None] = {}
_CLEAN_MAX = 4096
_CLEAN_LONGEST = 128
Tally = Counter  # PiiKind -> how many values were masked; the caller turns it into metrics


def mask_resident_id(value: str) -> str:
    """The 6-digit division code; birth date, sequence and check character hidden (``210603************``)."""
    compact = canonical(value)
    return compact[:6] + MASK * (len(compact) - 6) if len(compact) > 6 else MASK * len(compact)


def mask_phone(value: str) -> str:
    """Mobile: first 3 and last 4 digits (``138****5678``); landline: area code and last 2 (``0415-*****56``)."""
    try:
        number = phonenumbers.parse(canonical(value) if "+" not in value else "+" + canonical(value), "CN")
    except phonenumbers.NumberParseException:
        return _mask_digits(value)
    national = str(number.national_number)
    if number.country_code != 86:
        return f"+{number.country_code} {MASK * 4}{national[-2:]}"
    if national.startswith("1") and len(national) == 11:
        return f"{national[:3]}{MASK * 4}{national[-4:]}"
    area = phonenumbers.length_of_geographical_area_code(number)
    if area:
        return f"0{national[:area]}-{MASK * (len(national) - area - 2)}{national[-2:]}"
    return f"{national[:3]}{MASK * max(len(national) - 5, 1)}{national[-2:]}"


def mask_plate(value: str) -> str:
    """Province and city letter, the last character (``遼F·****5``)."""
    compact = canonical(value)
    if len(compact) < 4:
        return MASK * len(compact)
    return f"{compact[:2]}·{MASK * (len(compact) - 3)}{compact[-1]}"


def mask_business_code(value: str) -> str:
    """Registration authority, type and division (8 characters); the owner's part hidden."""
    compact = canonical(value)
    return compact[:8] + MASK * (len(compact) - 8)


def mask_name(name: str) -> str:
    """Surname and 某, as Chinese published decisions write it (張某): the given name is what identifies."""
    return f"{surname_of(name)}某"


def mask_reporter(value: str) -> str:
    """A reporter is a person (officer id or name) unless proven otherwise: keep only the first character."""
    return f"{value[:1]}{MASK * 3}" if value else value


_MASKS = {PiiKind.RESIDENT_ID: mask_resident_id, PiiKind.PHONE: mask_phone, PiiKind.PLATE: mask_plate,
          PiiKind.BUSINESS_CODE: mask_business_code, PiiKind.NAME: mask_name}
# Kinds of structured subject identifiers (schemas' subject kinds) → the kind of personal datum they are.
_SUBJECT_KINDS = {"resident_id": PiiKind.RESIDENT_ID, "plate": PiiKind.PLATE}


def mask_value(kind: PiiKind, value: str) -> str:
    return _MASKS[kind](value)


def mask_subject(kind: str, value: str, tally: Tally | None = None) -> str:
    """A subject identifier as an unentitled reader sees it. A business credit code stays (a legal person) unless
    it is an individual business's; an identifier of an unknown kind is hidden whole."""
    if kind == "uscc":
        if not is_personal_business_code(value):
            return mask_text(value, tally=tally, names=False)  # a malformed code may hold anything
        pii = PiiKind.BUSINESS_CODE
    elif kind in _SUBJECT_KINDS:
        pii = _SUBJECT_KINDS[kind]
    else:
        return MASK * len(value)
    _count(tally, pii)
    return mask_value(pii, value)


def mask_text(text: str, *, known: Iterable[tuple[PiiKind, str]] = (), tally: Tally | None = None,
              names: bool = True) -> str:
    """``text`` with every personal datum found replaced by its masked form; ``known`` values (e.g. the case's own
    subjects and reporter) are masked wherever they appear verbatim, found by a detector or not."""
    if not known and text in _CLEAN:
        return text
    original = text
    for kind, value in known:
        if value and len(value) >= 2 and value in text:
            _count(tally, kind, text.count(value))
            text = text.replace(value, mask_reporter(value) if kind is PiiKind.NAME else mask_value(kind, value))
    found_any = find_personal_data(text, names=names)
    for found in reversed(found_any):
        text = text[:found.start] + mask_found(found) + text[found.end:]
        _count(tally, found.kind)
    if not found_any and text == original and names and len(text) <= _CLEAN_LONGEST:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[text] = None
    return text


def mask_found(found: Found) -> str:
    return mask_value(found.kind, found.canonical if found.kind is not PiiKind.NAME else found.value)


def _mask_digits(value: str) -> str:
    return "".join(MASK if c.isdigit() else c for c in value)


def _count(tally: Tally | None, kind: PiiKind, n: int = 1) -> None:
    if tally is not None:
        tally[kind] += n
