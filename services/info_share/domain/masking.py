"""Find and mask personal data — resident ids, phone numbers, vehicle plates, personal names — in fields and free text.

Pure functions: no I/O. Detection uses check characters and number parsing, not shapes alone: a resident id is an
18-character number that ``stdnum.cn.ric`` accepts (or one that fails only its check character but carries a real
birth date, i.e. a mistyped id), a phone number is one ``phonenumbers`` finds in the text and holds valid for
mainland China. Names have no checksum: they are found after a label (``姓名：``, ``当事人``…) or before an honorific
(``先生``, ``女士``…) when they start with a known surname — the limits are written down in docs/info_share.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from enum import StrEnum

import phonenumbers
from stdnum.cn import ric, uscc

from services.info_share.domain.surnames import COMPOUND_SURNAMES, SURNAMES


class PiiKind(StrEnum):
    RESIDENT_ID = "resident_id"
    PHONE = "phone"
    PLATE = "plate"
    NAME = "name"


Tally = Counter  # PiiKind -> how many values were masked; the caller turns it into metrics

_FULL_WIDTH = str.maketrans("０１２３４５６７８９ＸｘＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＳＴＵＶＷＹＺ",
                            "0123456789XxABCDEFGHJKLMNPQRSTUVWYZ")
_DIGIT = "[0-9０-９]"
# 18 characters, the last may be X; single spaces or hyphens between digits are tolerated (ids are often grouped).
_RIC_18 = re.compile(rf"(?<![0-9０-９A-Za-z]){_DIGIT}(?:[ \-]?{_DIGIT}){{16}}[ \-]?[0-9０-９XxＸｘ]"
                     r"(?![0-9０-９A-Za-z])")
_RIC_15 = re.compile(r"(?<![0-9０-９A-Za-z])[0-9０-９]{15}(?![0-9０-９A-Za-z])")  # first-generation ids (before 1999)
_PROVINCE_CODES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                             50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82})
_PLATE = re.compile(
    r"([京津沪滬渝冀豫云雲辽遼黑湘皖鲁魯新苏蘇浙赣贛鄂桂甘晋晉蒙陕陝吉闽閩贵貴粤粵青藏川宁寧琼瓊])"
    r"([A-HJ-NP-Z])[·•・.\s-]?([A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂掛学學警港澳])(?![A-Za-z0-9])"
)
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Words that say "the person is…": a name, when one follows, starts right after them.
_NAME_LABELS = (
    "姓名", "名字", "联系人", "聯繫人", "聯絡人", "联络人", "当事人", "當事人", "户主", "戶主", "业主", "業主", "房主",
    "车主", "車主", "举报人", "舉報人", "报案人", "報案人", "投诉人", "投訴人", "反映人", "来电人", "來電人",
    "负责人", "負責人", "法定代表人", "法人代表", "法人", "经营者", "經營者", "经营户", "經營戶", "店主", "摊主",
    "攤主",
    "承包人", "责任人", "責任人", "违法人", "違法人", "行为人", "行為人", "嫌疑人", "监护人", "監護人", "村民", "居民",
    "市民", "群众", "群眾", "老板", "老闆", "租户", "租戶", "住户", "住戶", "司机", "司機", "驾驶人", "駕駛人",
)
# Verbs an enforcement text puts before the person acted on (责令张某…, 请联系张某…).
_NAME_VERBS = ("联系", "聯繫", "聯絡", "通知", "告知", "责令", "責令", "约谈", "約談", "询问", "詢問", "传唤", "傳喚",
               "处罚", "處罰", "督促", "劝导", "勸導")
_LABEL = re.compile("(?:" + "|".join(sorted(map(re.escape, _NAME_LABELS + _NAME_VERBS), key=len, reverse=True)) + ")"
                    r"(?:\s*[：:]\s*|\s*(?:为|為|是|叫)\s*|\s*)")
# Common words that start with a surname character and follow those verbs; never taken for a name.
_NOT_NAMES = frozenset({
    "方式", "方法", "方面", "相关", "相關", "明确", "明確", "安全", "全面", "严格", "嚴格", "高度", "常态", "常態",
    "文明", "和谐", "和諧", "单位", "單位", "时间", "時間", "时限", "時限", "余下", "司法", "公安", "车辆", "車輛",
    "房屋", "石料", "金额", "金額", "江河", "林地", "田地", "沙石", "水利", "杨树", "楊樹", "关于", "關於", "于是",
    "周边", "周邊", "周围", "周圍", "陆续", "陸續", "黄色", "黃色", "白色", "黑色", "马上", "馬上", "万元", "萬元",
})
_HONORIFICS = ("先生", "女士", "小姐", "师傅", "師傅", "老师", "老師", "同志", "大爷", "大爺", "阿姨", "大妈", "大媽",
               "大姐", "大哥", "老汉", "老漢")
_HONORIFIC = re.compile("|".join(_HONORIFICS))
# Characters that end a name: particles, verbs and words that commonly follow one in a report.
_NAME_STOP = frozenset("某在于於的等说說称稱家与與和及因将將把被已未正是系為为从從到向对對于了也都就又还還自"
                       "住居及其他她它们們")
MASK = "*"


def mask_resident_id(value: str) -> str:
    """Keep the 6-digit division code (the case location tells as much); hide birth date, sequence and check."""
    compact = _normalise(value)
    return compact[:6] + MASK * (len(compact) - 6)


def mask_phone(number: phonenumbers.PhoneNumber) -> str:
    """Mobile: first 3 and last 4 digits (the usual 138****5678); landline: area code and last 2 digits."""
    national = str(number.national_number)
    if number.country_code != 86:
        return f"+{number.country_code} {MASK * 4}{national[-2:]}"
    if national.startswith("1") and len(national) == 11:
        return f"{national[:3]}{MASK * 4}{national[-4:]}"
    area = phonenumbers.length_of_geographical_area_code(number)
    if area:
        return f"0{national[:area]}-{MASK * (len(national) - area - 2)}{national[-2:]}"
    return f"{national[:3]}{MASK * (len(national) - 5)}{national[-2:]}"


def mask_plate(value: str) -> str:
    """Keep the province and city letter (遼F), hide the number except its last character."""
    compact = re.sub(r"[·•・.\s-]", "", value)
    if len(compact) < 4:
        return MASK * len(compact)
    return f"{compact[:2]}·{MASK * (len(compact) - 3)}{compact[-1]}"


def mask_name(name: str) -> str:
    """Surname and 某, as Chinese published decisions write it (張某): the given name is what identifies."""
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return f"{surname}某"


def mask_reporter(value: str) -> str:
    """A reporter is a person (officer id or name) unless proven otherwise: keep only the first character."""
    return f"{value[:1]}{MASK * 3}" if value else value


def mask_subject(kind: str, value: str, tally: Tally | None = None) -> str:
    """A subject identifier as an unentitled caller sees it; a business credit code (legal person) stays."""
    if kind == "resident_id":
        _count(tally, PiiKind.RESIDENT_ID)
        return mask_resident_id(value)
    if kind == "plate":
        _count(tally, PiiKind.PLATE)
        return mask_plate(value)
    return value


def mask_text(text: str, *, known: Iterable[tuple[PiiKind, str]] = (), tally: Tally | None = None) -> str:
    """``text`` with every personal datum found replaced by its masked form; ``known`` values are masked wherever
    they appear verbatim (e.g. the case's own subjects and reporter repeated in the description)."""
    for kind, value in known:
        if value and len(value) >= 2 and value in text:
            replacement = _mask_known(kind, value)
            _count(tally, kind, text.count(value))
            text = text.replace(value, replacement)
    text = _replace(text, _find_resident_ids(text), PiiKind.RESIDENT_ID, tally)
    text = _replace(text, _find_phones(text), PiiKind.PHONE, tally)
    text = _replace(text, _find_plates(text), PiiKind.PLATE, tally)
    return _replace(text, _find_names(text), PiiKind.NAME, tally)


def find_personal_data(text: str) -> list[tuple[PiiKind, str]]:
    """Every personal datum the detectors see in ``text`` (what the leak test scans for), unmasked."""
    found = [(PiiKind.RESIDENT_ID, text[s:e]) for s, e, _ in _find_resident_ids(text)]
    found += [(PiiKind.PHONE, text[s:e]) for s, e, _ in _find_phones(text)]
    found += [(PiiKind.PLATE, text[s:e]) for s, e, _ in _find_plates(text)]
    found += [(PiiKind.NAME, text[s:e]) for s, e, _ in _find_names(text)]
    return found


def is_resident_id(value: str) -> bool:
    """A valid resident id (check character right), or one wrong only in its check character but with a real
    division prefix and birth date: a mistyped id is still someone's id."""
    compact = _normalise(value)
    if len(compact) == 18:
        if ric.is_valid(compact):
            return True
        if uscc.is_valid(compact):
            return False  # an all-digit business credit code
        return _plausible_id(compact[:6], compact[6:14])
    if len(compact) == 15 and compact.isdigit():
        return _plausible_id(compact[:6], "19" + compact[6:12])
    return False


# -- detectors: (start, end, replacement) spans in the text as given ------------------------------------------------

Span = tuple[int, int, str]


def _find_resident_ids(text: str) -> list[Span]:
    spans = [(m.start(), m.end(), mask_resident_id(m.group())) for m in _RIC_18.finditer(text)
             if is_resident_id(m.group())]
    spans += [(m.start(), m.end(), mask_resident_id(m.group())) for m in _RIC_15.finditer(text)
              if is_resident_id(m.group())]
    return spans


def _find_phones(text: str) -> list[Span]:
    # POSSIBLE leniency, then a validity check: VALID leniency would also skip numbers glued to Latin letters
    # ("tel:13812345678abc"), and a mask must find at least what a scanner finds.
    spans = []
    for m in phonenumbers.PhoneNumberMatcher(text, "CN", leniency=phonenumbers.Leniency.POSSIBLE):
        if phonenumbers.is_valid_number(m.number):
            # "（13812345678）" matches from the opening bracket: keep it, the closing one stays in the text.
            start = m.start + 1 if m.raw_string[:1] in "（(" and not any(c in m.raw_string for c in "）)") else m.start
            spans.append((start, m.end, mask_phone(m.number)))
    return spans


def _find_plates(text: str) -> list[Span]:
    return [(m.start(), m.end(), mask_plate(m.group())) for m in _PLATE.finditer(text.translate(_FULL_WIDTH))]


def _find_names(text: str) -> list[Span]:
    spans: list[Span] = []
    for label in _LABEL.finditer(text):
        name_end = _name_end(text, label.end(), max_given=2)
        if name_end is not None:
            spans.append((label.end(), name_end, mask_name(text[label.end():name_end])))
    for honorific in _HONORIFIC.finditer(text):
        # Look back for surname + 1–2 given-name characters; a bare surname (王先生) identifies nobody.
        for given in (2, 1):
            for surname_length in (2, 1):
                start = honorific.start() - given - surname_length
                if start < 0:
                    continue
                candidate = text[start:honorific.start()]
                if _name_end(candidate, 0, max_given=given) == len(candidate):
                    spans.append((start, honorific.start(), mask_name(candidate)))
                    break
            else:
                continue
            break
    return _without_overlaps(spans)


def _name_end(text: str, start: int, max_given: int) -> int | None:
    """End of a name starting at ``start`` (surname + 1..max_given given-name characters), or None."""
    if text[start:start + 2] in COMPOUND_SURNAMES:
        end = start + 2
    elif text[start:start + 1] in SURNAMES:
        end = start + 1
    else:
        return None
    given = 0
    while given < max_given and end < len(text) and _HAN.match(text[end]) and text[end] not in _NAME_STOP:
        end += 1
        given += 1
    if not given or text[start:start + 2] in _NOT_NAMES:
        return None
    return end


def _without_overlaps(spans: list[Span]) -> list[Span]:
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def _replace(text: str, spans: list[Span], kind: PiiKind, tally: Tally | None) -> str:
    for start, end, replacement in sorted(_without_overlaps(spans), reverse=True):
        text = text[:start] + replacement + text[end:]
        _count(tally, kind)
    return text


def _mask_known(kind: PiiKind, value: str) -> str:
    if kind is PiiKind.RESIDENT_ID:
        return mask_resident_id(value)
    if kind is PiiKind.PLATE:
        return mask_plate(value)
    if kind is PiiKind.NAME:
        return mask_reporter(value)
    return MASK * len(value)


def _count(tally: Tally | None, kind: PiiKind, n: int = 1) -> None:
    if tally is not None:
        tally[kind] += n


def _normalise(value: str) -> str:
    return re.sub(r"[ \-]", "", value.translate(_FULL_WIDTH)).upper()


def _plausible_id(division: str, birth: str) -> bool:
    if not (division.isdigit() and birth.isdigit()) or int(division[:2]) not in _PROVINCE_CODES:
        return False
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date(2100, 1, 1)
