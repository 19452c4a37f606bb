"""The privacy policy of every channel: what personal data looks like (detect), how it is hidden (mask), and who is
entitled to see it (audience). Pure: no I/O; imports ``python-stdnum`` and ``phonenumbers`` only."""

from services.common.privacy.audience import RANK, Audience, reporter_for, subject_for, text_for
from services.common.privacy.detect import (
    Found,
    PiiKind,
    canonical,
    find_personal_data,
    is_personal_business_code,
    is_resident_id,
)
from services.common.privacy.mask import (
    MASK,
    Tally,
    mask_business_code,
    mask_name,
    mask_phone,
    mask_plate,
    mask_reporter,
    mask_resident_id,
    mask_subject,
    mask_text,
    mask_value,
)

__all__ = [
    "MASK", "RANK", "Audience", "Found", "PiiKind", "Tally", "canonical", "find_personal_data",
    "is_personal_business_code", "is_resident_id", "mask_business_code", "mask_name", "mask_phone", "mask_plate",
    "mask_reporter", "mask_resident_id", "mask_subject", "mask_text", "mask_value", "reporter_for", "subject_for",
    "text_for",
]
