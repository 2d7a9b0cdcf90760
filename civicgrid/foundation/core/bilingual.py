"""Messages written once in both languages, "中文 / English" (the services' errors and notes): telling whether a
text is such a pair and taking it apart. Which half a reader gets is the pages' business (`ui.language`)."""

from __future__ import annotations

import re

SEPARATOR = " / "
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z]{2,}")
# A value a message quotes (a name someone typed: "演示客户端 / demo client") may hold the separator itself; inside
# these marks it is part of the value. Messages quote such values: 「…」 in the Chinese half, "…" in the English.
_OPENING, _CLOSING = "「『“《", "」』”》"


def has_chinese(text) -> bool:
    """Whether the text holds Chinese characters or full-width punctuation."""
    return bool(_CJK.search(str(text)))


def _english(text: str) -> bool:
    if not has_chinese(text):
        return True
    # English that quotes Chinese values ("must be 是 or 否", "not a number: 三天"): it starts with no Chinese,
    # has a word of Latin letters and holds no second pair ("中 / en。中 / en" is shown whole, never cut short).
    # "永泰 / 古城" or "1号楼 / 2号楼" are lists, not pairs.
    text = text.strip()
    return not has_chinese(text[0]) and bool(_WORD.search(text)) and _separator(text) < 0


def _separator(text: str) -> int:
    """Where the first " / " outside quotation marks starts, -1 when there is none. When marks are left open
    (a quoted value that itself holds one), they count for nothing: the first " / " it is."""
    depth, in_ascii = 0, False
    for i, ch in enumerate(text):
        if ch in _OPENING:
            depth += 1
        elif ch in _CLOSING:
            depth = max(depth - 1, 0)
        elif ch == '"':
            in_ascii = not in_ascii
        elif ch == " " and not depth and not in_ascii and text.startswith(SEPARATOR, i):
            return i
    return -1 if not depth and not in_ascii else text.find(SEPARATOR)


def halves(text) -> tuple[str, str] | None:
    """(Chinese, English) of a bilingual message; None when the text is not such a pair (no " / " outside
    quotation marks, nothing Chinese before it, or no English after it)."""
    text = str(text)
    at = _separator(text)
    if at < 0:
        return None
    zh, en = text[:at], text[at + len(SEPARATOR) :]
    if not has_chinese(zh) or not _english(en):
        return None
    return zh.strip(), en.strip()


_SPLITTING = re.compile(r"\s+/")
_MARKS = str.maketrans("", "", _OPENING + _CLOSING + '"')


def quotable(value, limit: int = 32) -> str:
    """A value someone typed, made safe to quote in both halves of a message (「…」 in the Chinese, "…" in the
    English): on one line, without quotation marks (an odd one would leave the message's own open) and without
    a " / " (closed up to "/"), cut to `limit` characters. Whatever was typed, the message still splits where
    it was written to, and each half names the value."""
    text = " ".join(str(value if value is not None else "").translate(_MARKS).split())
    return _SPLITTING.sub("/", text)[:limit]
