"""The services speak both languages at once ("中文 / English": a message is written once, where the rule
lives, and read by people, API clients and logs alike). A page shows the reader one of them."""

from __future__ import annotations

import re

from django.utils.translation import get_language

_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z]{2,}")


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
    return not has_chinese(text[0]) and bool(_WORD.search(text)) and " / " not in text


def one_language(text) -> str:
    """The half of a bilingual message in the reader's language: "请填写标题 / a title is required" reads
    "请填写标题" in the Chinese interface and "a title is required" in the English one. Text that is not such a
    pair (no " / ", nothing Chinese before it, or no English after it) is returned as it is."""
    text = str(text)
    zh, sep, en = text.partition(" / ")
    if not sep or not has_chinese(zh) or not _english(en):
        return text
    return en.strip() if (get_language() or "").startswith("en") else zh.strip()
