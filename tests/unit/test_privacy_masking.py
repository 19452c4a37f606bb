"""The one privacy module: personal data found by check character and number parsing, in fields and free text."""

from __future__ import annotations

from collections import Counter

import phonenumbers
import pytest
from stdnum.cn import ric

from services.common.privacy import (
    PiiKind,
    find_personal_data,
    is_resident_id,
    mask_name,
    mask_plate,
    mask_reporter,
    mask_resident_id,
    mask_subject,
    mask_text,
)

VALID_ID = "210603199001011230"
VALID_ID_X = "21060319850615104X"


def test_planted_ids_are_valid() -> None:
    assert ric.is_valid(VALID_ID) and ric.is_valid(VALID_ID_X)


@pytest.mark.parametrize("written", [
    VALID_ID, VALID_ID_X, VALID_ID_X.lower(), "2106 0319 9001 0112 30", "210603-19900101-1230",
    "２１０６０３１９９００１０１１２３０",  # full-width digits
])
def test_resident_ids_in_text_are_masked_in_any_writing(written: str) -> None:
    tally: Counter[PiiKind] = Counter()
    masked = mask_text(f"身份证号{written}，住址振兴区", tally=tally)
    assert masked == "身份证号210603************，住址振兴区"
    assert tally == {PiiKind.RESIDENT_ID: 1}


def test_an_id_with_a_wrong_check_character_but_a_real_birth_date_is_still_masked() -> None:
    mistyped = VALID_ID[:-1] + "9"
    assert not ric.is_valid(mistyped) and is_resident_id(mistyped)
    assert mistyped not in mask_text(f"身份证{mistyped}")


def test_first_generation_15_digit_ids_are_masked() -> None:
    assert mask_text("旧身份证210603900101123") == "旧身份证210603*********"


@pytest.mark.parametrize("number", [
    "91210600MA0QC9XX1Q",  # a business credit code: a legal person, not personal data
    "123456789012345678",  # no real division or birth date
    "20260302093000123456",  # a long timestamp-like number
])
def test_numbers_that_are_not_resident_ids_stay(number: str) -> None:
    assert mask_text(f"编号{number}") == f"编号{number}"


@pytest.mark.parametrize(("written", "masked"), [
    ("13812345678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("+86 139-1234-5678", "139****5678"),
    ("１３８１２３４５６７８", "138****5678"),
    ("0415-2123456", "0415-*****56"),
    ("(0415)2123456", "0415-*****56"),
    ("400-810-8888", "400*****88"),
])
def test_phone_numbers_in_text_are_masked(written: str, masked: str) -> None:
    tally: Counter[PiiKind] = Counter()
    assert mask_text(f"电话{written}。", tally=tally) == f"电话{masked}。"
    assert tally == {PiiKind.PHONE: 1}


def test_a_phone_number_glued_to_latin_letters_is_masked_too() -> None:
    # phonenumbers' default (VALID) leniency skips it; a scanner might not, so the mask must not either.
    assert mask_text("tel:13812345678abc") == "tel:138****5678abc"


@pytest.mark.parametrize("text", ["日期2026-03-02 09:00", "面积300平方米", "热线12345", "编号20260302", "报警110"])
def test_dates_areas_and_short_codes_are_not_phone_numbers(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(("text", "masked"), [
    ("当事人张三，电话", "当事人张某，电话"),
    ("姓名：王建国。", "姓名：王某。"),
    ("联系人: 欧阳明 ", "联系人: 欧阳某 "),
    ("负责人为刘洋。", "负责人为刘某。"),
    ("當事人陳大文在場", "當事人陳某在場"),
    ("王建国先生反映", "王某先生反映"),
    ("李秀英女士称", "李某女士称"),
    ("据张师傅说", "据张师傅说"),  # a bare surname identifies nobody
    ("当事人于某日在河边倒垃圾", "当事人于某日在河边倒垃圾"),  # already anonymised
    ("当事人系本村村民", "当事人系本村村民"),  # no name follows the label
])
def test_names_after_a_label_or_before_an_honorific_keep_only_the_surname(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_known_values_are_masked_wherever_they_appear() -> None:
    tally: Counter[PiiKind] = Counter()
    text = mask_text("officer-7 报告：officer-7 在现场", known=[(PiiKind.NAME, "officer-7")], tally=tally)
    assert "officer-7" not in text and tally[PiiKind.NAME] == 2


def test_a_plate_in_text_keeps_province_and_city_only() -> None:
    assert mask_text("车辆辽F·12345停放") == "车辆辽F·****5停放"
    assert mask_plate("遼F12345") == "遼F·****5"


def test_field_masks() -> None:
    assert mask_resident_id(VALID_ID_X) == "210603************"
    assert mask_name("欧阳明") == "欧阳某" and mask_name("张建国") == "张某"
    assert mask_reporter("officer-wang") == "o***"
    assert mask_subject("resident_id", VALID_ID) == "210603************"
    assert mask_subject("plate", "辽F12345") == "辽F·****5"
    assert mask_subject("uscc", "91210600MA0QC9XX1Q") == "91210600MA0QC9XX1Q"


def test_nothing_a_scanner_finds_survives_masking() -> None:
    text = (f"当事人张建国，身份证{VALID_ID}、{VALID_ID_X}，电话13812345678、0415-2123456、+86 13912345678，"
            "王建国先生、欧阳明女士，车辆辽F·12345")
    masked = mask_text(text)
    assert find_personal_data(masked) == []
    assert not [m for m in phonenumbers.PhoneNumberMatcher(masked, "CN", leniency=phonenumbers.Leniency.POSSIBLE)
                if phonenumbers.is_valid_number(m.number)]
    assert VALID_ID not in masked and VALID_ID_X not in masked
    assert {found.kind for found in find_personal_data(text)} == set(PiiKind) - {PiiKind.BUSINESS_CODE}


@pytest.mark.parametrize(("text", "masked"), [
    ("请联系张建国（13812345678）核实", "请联系张某（138****5678）核实"),
    ("已责令张建国限期拆除", "已责令张某限期拆除"),
    ("请提供联系方式和联系电话", "请提供联系方式和联系电话"),
    ("督促相关部门整改", "督促相关部门整改"),
])
def test_names_after_enforcement_verbs(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_limit_a_name_with_no_label_or_honorific_is_not_found() -> None:
    # Documented limit (docs/info_share.md): without named-entity recognition a bare name in prose stays.
    assert mask_text("张建国在院内违法搭建") == "张建国在院内违法搭建"


@pytest.mark.parametrize(("written", "masked"), [
    ("SFZ210681199601257604abc", "SFZ210681************abc"),  # glued to letters
    ("210681－19930625－3555", "210681************"),  # full-width hyphens
    ("210681  19981217  2918", "210681************"),  # double spaces
    ("210681 19981217 2918", "210681************"),
    ("210681-19960421-7499", "210681************"),
    ("210681.19960421 - 7499", "210681************"),  # mixed
])
def test_resident_ids_in_the_spellings_real_text_has(written: str, masked: str) -> None:
    assert mask_text(f"身份证{written}。") == f"身份证{masked}。"


@pytest.mark.parametrize(("written", "masked"), [
    ("一八七七四四三六七一九", "187****6719"),  # read aloud on the hotline
    ("幺三八 一二三四 五六七八", "138****5678"),
    ("138－1234－5678", "138****5678"),
    ("138.1234.5678", "138****5678"),
    ("138  1234  5678", "138****5678"),
    ("0086 138 1234 5678", "138****5678"),
    ("（０４１５）２１２３４５６", "0415-*****56"),
])
def test_phone_numbers_in_the_spellings_real_text_has(written: str, masked: str) -> None:
    assert mask_text(f"电话{written}。") == f"电话{masked}。"


@pytest.mark.parametrize("written", ["辽flcqff", "遼F·12345", "辽 F 12345", "辽Ｆ１２３４５", "辽f-d12345"])
def test_plates_in_any_case_and_spelling_are_masked(written: str) -> None:
    masked = mask_text(f"车辆{written}停放")
    assert written not in masked and "·" in masked and masked.startswith("车辆") and masked.endswith("停放")


def test_an_individual_business_code_names_its_owner_and_a_company_code_does_not() -> None:
    from stdnum.cn import uscc
    personal = "92210600MA0QC9XX1" + uscc.calc_check_digit("92210600MA0QC9XX1")
    company = "91210600MA0QC9XX1" + uscc.calc_check_digit("91210600MA0QC9XX1")
    assert mask_text(f"个体户{personal}") == "个体户92210600**********"
    assert mask_text(f"公司{company}") == f"公司{company}"
    assert mask_subject("uscc", personal) == "92210600**********"
    assert mask_subject("uscc", company) == company


def test_an_identifier_of_an_unknown_kind_is_hidden_whole() -> None:
    assert mask_subject("passport", "E12345678") == "*********"
