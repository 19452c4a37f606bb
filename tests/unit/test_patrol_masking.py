"""Personal data never leaves patrol unmasked: text, subjects and audit entries follow services.common.privacy."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.audit import AuditEntry, Who
from services.common.privacy import mask_phone, mask_resident_id, mask_subject, mask_text
from services.common.privacy.detect import MIN_DIGITS
from services.patrol.domain.access import Principal
from services.patrol.domain.audit import describe_submission, masked_problems

RESIDENT_ID = "11010519491231002X"


def test_resident_id_keeps_only_its_division() -> None:
    assert mask_resident_id(RESIDENT_ID) == "110105************"
    assert mask_resident_id("123") == "***"


def test_phone_keeps_carrier_and_last_four_digits_or_area_and_last_two() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0415-2123456") == "0415-*****56"


def test_text_masks_ids_mobiles_landlines_and_international_forms() -> None:
    text = f"群眾13812345678反映，電話0415-2123456，身份證{RESIDENT_ID}，另+86 139 1234 5678。"
    masked = mask_text(text)
    for secret in ("13812345678", "2123456", RESIDENT_ID, "1391234"):
        assert secret not in masked.replace(" ", ""), masked
    assert "138****5678" in masked and "110105************" in masked
    assert masked.startswith("群眾") and masked.endswith("。")


def test_text_keeps_company_codes_and_plain_numbers() -> None:
    text = "統一社會信用代碼91110000600037341L，面積120平方米"
    assert mask_text(text) == text


def test_subjects_mask_resident_ids_and_plates_as_every_channel_does() -> None:
    assert mask_subject("resident_id", RESIDENT_ID) == "110105************"
    assert mask_subject("plate", "遼F12345") == "遼F·****5"
    assert mask_subject("uscc", "91110000600037341L") == "91110000600037341L"


def test_audit_summary_is_an_allow_list() -> None:
    raw = {"client_report_id": "k-1", "township_code": "210603008", "category_code": "c", "source": "patrol",
           "description": f"聯繫人13812345678 {RESIDENT_ID}",
           "subjects": [{"kind": "resident_id", "value": RESIDENT_ID}, {"kind": "uscc", "value": "91110000600037341L"}],
           "location": {"latitude": 40.0, "longitude": 124.0}}
    what = describe_submission(raw, item_index=3)
    assert what == {"item_index": 3, "client_report_id": "k-1", "township_code": "210603008", "category_code": "c",
                    "source": "patrol", "description_chars": len(raw["description"]),
                    "subjects": [{"kind": "resident_id", "value": "110105************"},
                                 {"kind": "uscc", "value": "91110000600037341L"}]}
    assert describe_submission("not an object") == {}


def test_audit_entry_masks_problem_messages_and_names_the_caller() -> None:
    entry = AuditEntry(
        at=datetime(2026, 1, 1, tzinfo=UTC), request_id="r", api="json", action="submit_finding",
        who=Who.of(Principal("officer-1", "patrol_officer", frozenset(), "jwt"), "10.0.0.1"), outcome="rejected",
        status=422, reason="invalid_subject", problems=masked_problems([("subjects[0].value", f"bad {RESIDENT_ID}")]))
    data = entry.to_dict()
    assert data["who"] == {"subject": "officer-1", "role": "patrol_officer", "method": "jwt",
                           "client_address": "10.0.0.1"}
    assert data["problems"] == [{"field": "subjects[0].value", "message": "bad 110105************"}]
    assert Who.of(None, "10.0.0.2") == Who(client_address="10.0.0.2")


def test_no_valid_phone_number_has_fewer_digits_than_the_fast_path_skips() -> None:
    # find_personal_data skips the number detectors for text with fewer than MIN_DIGITS digits.
    import phonenumbers
    from phonenumbers.phonemetadata import PhoneMetadata

    shortest = min(
        len(str(metadata.country_code)) + min(n for n in metadata.general_desc.possible_length if n > 0)
        for metadata in [*(PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS),
                         *(PhoneMetadata.metadata_for_nongeo_region(c)
                           for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)]
        if metadata is not None and any(n > 0 for n in metadata.general_desc.possible_length))
    assert shortest >= MIN_DIGITS
    assert mask_text("+49 30 1234567") != "+49 30 1234567"


def test_text_seen_clean_stays_clean_and_masked_text_is_never_remembered() -> None:
    for _ in range(2):  # the second time from the cache of clean texts
        assert mask_text("210603008") == "210603008"
        assert mask_text("電話13912345678") == "電話139****5678"
