"""Masking of personal data (resident ids, phone numbers) before it reaches logs or a wider audience."""

from __future__ import annotations

import re

import phonenumbers

# 18-digit resident id (last character may be X) or the old 15-digit form, not inside a longer run of digits.
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Mainland mobile numbers written without separators; phonenumbers catches the other spellings and landlines.
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def mask_resident_id(value: str) -> str:
    """Keep the 6-digit region and the last 4 characters: enough to tell two ids apart, not to identify."""
    value = value.strip()
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 digits; every other digit becomes ``*``, separators stay."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    hidden = set(digits[3:-4]) if len(digits) > 7 else set(digits)
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


# No valid phone number anywhere has fewer digits than this (2-digit country code + 4-digit number, e.g. +49, +43;
# a number of mainland China has at least 7): text with fewer digits cannot hold one, nor a resident id (15+) or a
# mobile number (11). tests/unit/test_patrol_masking.py checks the bound against phonenumbers' own metadata.
MIN_PHONE_DIGITS = 6
# Texts seen to have nothing to mask (township codes, category codes: the same few hundred again and again), so the
# phone-number matcher (~50-250 µs a text) runs once for each. Only texts returned unchanged are kept: never one
# that held personal data.
_CLEAN: dict[str, None] = {}
_CLEAN_MAX = 4096


def mask_text(text: str) -> str:
    """Free text with every resident id and phone number in it masked."""
    if text in _CLEAN or sum(map(str.isdigit, text)) < MIN_PHONE_DIGITS:
        return text
    masked = _mask(text)
    if masked == text and len(text) <= 128:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[text] = None
    return masked


def _mask(text: str) -> str:
    text = _RESIDENT_ID.sub(lambda m: mask_resident_id(m.group(0)), text)
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, "CN")]
    for start, end in reversed(spans):
        text = text[:start] + mask_phone(text[start:end]) + text[end:]
    return _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_subject(kind: str, value: str) -> str:
    """Subject identifiers as the audit log keeps them: resident ids masked, business and plate ids kept."""
    return mask_resident_id(value) if kind == "resident_id" else value
