"""The services speak both languages at once ("中文 / English": a message is written once, where the rule
lives, and read by people, API clients and logs alike). A page shows the reader one of them."""

from __future__ import annotations

import re

from django.utils.translation import get_language

_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def has_chinese(text) -> bool:
    """Whether the text holds Chinese characters or full-width punctuation."""
    return bool(_CJK.search(str(text)))


def one_language(text) -> str:
    """The half of a bilingual message in the reader's language: "请填写标题 / a title is required" reads
    "请填写标题" in the Chinese interface and "a title is required" in the English one. Text that is not such a
    pair (no " / ", Chinese on both sides, or none before it) is returned as it is."""
    text = str(text)
    zh, sep, en = text.partition(" / ")
    if not sep or not has_chinese(zh) or has_chinese(en):
        return text
    return en.strip() if (get_language() or "").startswith("en") else zh.strip()
