"""Personal names in free text, found after a label or verb, or before an honorific, when they start with a surname.

Names have no checksum and there is no named-entity model here: the limits are written down in docs/info_share.md.
"""

from __future__ import annotations

import re

from services.common.privacy.surnames import COMPOUND_SURNAMES, SURNAMES

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


def surname_of(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def find_names(text: str) -> list[tuple[int, int]]:
    """Spans of the names found in ``text``, without overlaps."""
    spans: list[tuple[int, int]] = []
    for label in _LABEL.finditer(text):
        name_end = _name_end(text, label.end(), max_given=2)
        if name_end is not None:
            spans.append((label.end(), name_end))
    for honorific in _HONORIFIC.finditer(text):
        # Look back for surname + 1–2 given-name characters; a bare surname (王先生) identifies nobody.
        for given in (2, 1):
            for surname_length in (2, 1):
                start = honorific.start() - given - surname_length
                if start < 0:
                    continue
                candidate = text[start:honorific.start()]
                if _name_end(candidate, 0, max_given=given) == len(candidate):
                    spans.append((start, honorific.start()))
                    break
            else:
                continue
            break
    kept: list[tuple[int, int]] = []
    for span in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


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
