"""Who is entitled to what: three audiences, and the one rule that says what each gets of a personal field.

``FULL`` — a party to the case (it needs the person to act); ``OFFICIAL`` — any other enforcement body, and every
record kept outside the case (audit logs, error messages, Open311 views for systems that serve a township);
``PUBLIC`` — anyone else: no free text and no personal field at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from services.common.privacy.detect import PiiKind
from services.common.privacy.mask import Tally, mask_reporter, mask_subject, mask_text


class Audience(StrEnum):
    FULL = "full"
    OFFICIAL = "official"
    PUBLIC = "public"


RANK = {Audience.PUBLIC: 0, Audience.OFFICIAL: 1, Audience.FULL: 2}


def text_for(audience: Audience, text: str | None, *, known: Iterable[tuple[PiiKind, str]] = (),
             tally: Tally | None = None) -> str | None:
    """Free text as ``audience`` may read it: whole, masked, or not at all."""
    if text is None or audience is Audience.FULL:
        return text
    if audience is Audience.PUBLIC:
        return None
    return mask_text(text, known=known, tally=tally)


def subject_for(audience: Audience, kind: str, value: str, tally: Tally | None = None) -> str | None:
    if audience is Audience.FULL:
        return value
    if audience is Audience.PUBLIC:
        return None
    return mask_subject(kind, value, tally)


def reporter_for(audience: Audience, value: str, tally: Tally | None = None) -> str | None:
    if audience is Audience.FULL:
        return value
    if audience is Audience.PUBLIC:
        return None
    if tally is not None:
        tally[PiiKind.NAME] += 1
    return mask_reporter(value)
