"""Fold text to the spelling the detectors read: ASCII digits and capitals, one hyphen, one dot — character for
character, so a span found in the folded text is the same span in the text as written."""

from __future__ import annotations

_TABLE: dict[int, str] = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}  # full-width ASCII
_TABLE.update({ord(c): c.upper() for c in "abcdefghijklmnopqrstuvwxyz"})
_TABLE.update({code: chr(code - 0xFEE0).upper() for code in range(0xFF41, 0xFF5B)})  # full-width a-z
_TABLE[0x3000] = " "  # ideographic space
_TABLE[0x00A0] = " "
# Dashes people and input methods type between digit groups (the full-width ０ｘＦＦ０Ｄ is folded above).
_TABLE.update({ord(c): "-" for c in "‐‑‒–—―−﹣﹘"})
_TABLE.update({ord(c): "·" for c in "•・‧∙⋅"})
# Digits read aloud and written out, as phone numbers are on the hotline (一八七七四四三六七一九, 幺 for one,
# 〇/零/洞 for zero) and in formal writing (壹贰叁…). 两 is left: it counts things, nobody dials it.
_NUMERALS = {"0": "〇零○洞", "1": "一壹幺", "2": "二贰貳", "3": "三叁參", "4": "四肆", "5": "五伍", "6": "六陆陸",
             "7": "七柒", "8": "八捌", "9": "九玖"}
_TABLE.update({ord(c): digit for digit, chars in _NUMERALS.items() for c in chars})


def fold(text: str) -> str:
    """``text`` with every character replaced by the one the detectors match; the length never changes."""
    return text.translate(_TABLE)
