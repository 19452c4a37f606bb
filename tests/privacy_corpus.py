"""A labelled corpus of identifiers as real text spells them, and false friends, with the measure of a detector
over it (tests/unit/test_privacy_corpus.py; scripts/presidio_comparison.py dumps it for Presidio).

The corpus is generated from a fixed seed (the same strings on every run): checksum-valid resident ids, mainland
mobiles and landlines that ``phonenumbers`` holds valid, plates and individual businesses' credit codes, each in every
spelling the privacy policy promises to read, inside sentences; and numbers that look like them but are not personal
data (order numbers, division codes, dates, prices, bank cards, timestamps, company codes, ids whose check character
and birth date are both wrong). Names are not part of it: they have no checksum (see docs/info_share.md).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import phonenumbers
from stdnum.cn import ric, uscc

from services.common.privacy import PiiKind, find_personal_data

SEED = 20261202
_FULL_WIDTH = str.maketrans("0123456789Xx-", "０１２３４５６７８９Ｘｘ－")
_SPOKEN = str.maketrans("0123456789", "〇一二三四五六七八九")
_SPOKEN_YAO = str.maketrans("0123456789", "零幺二三四五六七八九")


@dataclass(frozen=True)
class Sample:
    text: str
    kind: PiiKind | None  # None: a false friend, nothing to find
    value: str  # the planted value, as written
    spelling: str


def _resident_id(rng: random.Random) -> str:
    while True:
        division = rng.choice(["210602", "210603", "210604", "210624", "210681", "210682", "110105", "440305",
                               "510107", "220102", "230103"])
        body = f"{division}{rng.randint(1945, 2012)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" \
               f"{rng.randint(0, 999):03d}"
        number = body + ric.calc_check_digit(body + "0")
        if ric.is_valid(number):
            return number


def _mobile(rng: random.Random) -> str:
    while True:
        number = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        parsed = phonenumbers.parse(number, "CN")
        if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE:
            return number


def _landline(rng: random.Random) -> tuple[str, str]:
    while True:
        area, length = rng.choice([("0415", 7), ("024", 8), ("010", 8), ("021", 8), ("0411", 8)])
        subscriber = f"{rng.randint(2, 8)}{rng.randint(0, 10 ** (length - 1) - 1):0{length - 1}d}"
        parsed = phonenumbers.parse(area + subscriber, "CN")
        if phonenumbers.number_type(parsed) in (phonenumbers.PhoneNumberType.FIXED_LINE,
                                                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
            return area, subscriber


Spelling = str | tuple[str, str, str]  # the value as written, or (glued before, value, glued after)


def _spellings_of_id(number: str) -> dict[str, Spelling]:
    a, b, c = number[:6], number[6:14], number[14:]
    return {
        "plain": number, "lower_x": number.lower(), "full_width": number.translate(_FULL_WIDTH),
        "spaces": f"{a} {b} {c}", "double_spaces": f"{a}  {b}  {c}", "hyphens": f"{a}-{b}-{c}",
        "full_width_hyphens": f"{a}－{b}－{c}", "dots": f"{a}.{b}.{c}", "mixed": f"{a} - {b}.{c}",
        "groups_of_four": " ".join(number[i:i + 4] for i in range(0, 18, 4)),
        "glued_latin": ("SFZ", number, "abc"), "glued_han": ("号码", number, "号"),
    }


def _spellings_of_mobile(number: str) -> dict[str, Spelling]:
    a, b, c = number[:3], number[3:7], number[7:]
    return {
        "plain": number, "spaces": f"{a} {b} {c}", "double_spaces": f"{a}  {b}  {c}", "hyphens": f"{a}-{b}-{c}",
        "full_width": number.translate(_FULL_WIDTH), "full_width_hyphens": f"{a}－{b}－{c}", "dots": f"{a}.{b}.{c}",
        "mixed": f"{a} -{b}. {c}", "plus86": f"+86 {number}", "0086": f"0086-{a}-{b}-{c}",
        "spoken": number.translate(_SPOKEN), "spoken_yao": f"{a} {b} {c}".translate(_SPOKEN_YAO),
        "glued_latin": ("tel", number, "abc"), "brackets": ("（", number, "）"),
    }


def _spellings_of_landline(area: str, subscriber: str) -> dict[str, str]:
    return {"hyphen": f"{area}-{subscriber}", "brackets": f"({area}){subscriber}",
            "full_width": f"（{area}）{subscriber}".translate(_FULL_WIDTH),
            "spaces": f"{area} {subscriber[:3]} {subscriber[3:]}", "plus86": f"+86 {area[1:]} {subscriber}"}


def _spellings_of_plate(rng: random.Random) -> dict[str, str]:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = "".join(rng.choice(letters + "0123456789") for _ in range(4)) + rng.choice("0123456789")
    city = rng.choice("ABCDEFGHJKLMN")
    province = rng.choice("辽遼京吉黑冀鲁")
    return {"plain": f"{province}{city}{tail}", "middle_dot": f"{province}{city}·{tail}",
            "lower": f"{province}{city}{tail}".lower(), "spaces": f"{province} {city} {tail}",
            "full_width": "".join(chr(ord(c) + 0xFEE0) if c.isascii() else c for c in f"{province}{city}{tail}"),
            "new_energy": f"{province}{city}D{tail}", "hyphen": f"{province}{city}-{tail}"}


def _business_code(rng: random.Random, kind: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = kind + rng.choice(["210602", "210603", "210681"]) + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


_CONTEXTS = ("{}", "当事人身份证号{}，现场核实。", "举报人电话：{}，请回电", "车辆{}停放在路边",
             "据群众反映（{}）有人倾倒垃圾", "联系方式 {} 。")


def _false_friends(rng: random.Random) -> list[tuple[str, str]]:
    friends: list[tuple[str, str]] = []
    for _ in range(20):
        friends.append(("order_number", f"订单号{rng.randint(2024, 2026)}{rng.randint(1, 12):02d}"
                                        f"{rng.randint(1, 28):02d}{rng.randint(0, 10 ** 10 - 1):010d}"))
        friends.append(("order_number", f"工单 DD{rng.randint(10 ** 12, 10 ** 13 - 1)}"))
        friends.append(("division_code", f"乡镇代码210603{rng.randint(1, 20):03d}"))
        friends.append(("division_code", f"村代码210603{rng.randint(1, 20):03d}{rng.randint(1, 250):03d}"))
        friends.append(("date", f"{rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
                                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"))
        friends.append(("date", f"发现时间{rng.randint(2020, 2026)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                                f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}"))
        friends.append(("price", f"罚款{rng.randint(1000, 99999)}.{rng.randint(0, 99):02d}元"))
        friends.append(("price", f"¥{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"))
        friends.append(("bank_card", f"账户6222{rng.randint(10 ** 14, 10 ** 15 - 1)}"))
        friends.append(("timestamp", f"ts={rng.randint(1_700_000_000_000, 1_799_999_999_999)}"))
        friends.append(("company_code", f"统一社会信用代码{_business_code(rng, '91')}"))
        friends.append(("area", f"面积{rng.randint(100, 99999)}平方米，长{rng.randint(10, 999)}米"))
        friends.append(("coordinates", f"{rng.uniform(39.5, 41.0):.6f}, {rng.uniform(123.5, 125.5):.6f}"))
        # An id shape whose check character fails and whose birth date does not exist: no one's id.
        number = _resident_id(rng)
        broken = number[:10] + f"{rng.randint(13, 99)}" + number[12:17]
        broken += next(c for c in "0123456789X" if c != ric.calc_check_digit(broken + "0"))
        friends.append(("checksum_invalid_id", f"编号{broken}"))
        friends.append(("short_code", rng.choice(["热线12345", "报警110", "火警119", "10086", "95588", "12315投诉"])))
        friends.append(("case_number", f"丹振执罚〔2026〕{rng.randint(1, 999)}号"))
    return friends


def corpus() -> list[Sample]:
    rng = random.Random(SEED)
    samples: list[Sample] = []

    def plant(kind: PiiKind, spellings: dict[str, Spelling] | dict[str, str]) -> None:
        for spelling, written in spellings.items():
            before, value, after = written if isinstance(written, tuple) else ("", written, "")
            samples.append(Sample(rng.choice(_CONTEXTS).format(before + value + after), kind, value, spelling))

    for _ in range(40):
        plant(PiiKind.RESIDENT_ID, _spellings_of_id(_resident_id(rng)))
    for _ in range(30):
        plant(PiiKind.PHONE, _spellings_of_mobile(_mobile(rng)))
    for _ in range(12):
        plant(PiiKind.PHONE, _spellings_of_landline(*_landline(rng)))
    for _ in range(12):
        plant(PiiKind.PLATE, _spellings_of_plate(rng))
    for _ in range(10):
        plant(PiiKind.BUSINESS_CODE, {"individual_business": _business_code(rng, "92")})
    samples += [Sample(text, None, "", spelling) for spelling, text in _false_friends(rng)]
    return samples


def _planted_found(sample: Sample) -> bool:
    """Found as what it is, over exactly its characters (a bracket or a ``+86`` around it may be taken too)."""
    start = sample.text.index(sample.value)
    end = start + len(sample.value)
    return any(f.kind is sample.kind and f.start <= start and f.end >= end and f.end - f.start <= end - start + 2
               for f in find_personal_data(sample.text, names=False))


def measure(samples: list[Sample]) -> tuple[Counter[str], Counter[str], int, int, list[str]]:
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    true_positives = false_positives = 0
    wrong: list[str] = []
    for sample in samples:
        detections = find_personal_data(sample.text, names=False)
        if sample.kind is None:
            false_positives += len(detections)
            wrong += [f"false positive {d.kind}: {sample.text!r}" for d in detections]
            continue
        key = f"{sample.kind}/{sample.spelling}"
        planted[key] += 1
        if _planted_found(sample):
            found[key] += 1
            true_positives += 1
            false_positives += len(detections) - 1
        else:
            wrong.append(f"missed {key}: {sample.text!r} → {detections}")
    return planted, found, true_positives, false_positives, wrong
