"""The services speak both languages at once ("中文 / English": a message is written once, where the rule
lives, and read by people, API clients and logs alike). A page shows the reader one of them."""

from __future__ import annotations

from django.utils.translation import get_language

from civicgrid.foundation.core.bilingual import halves, has_chinese

__all__ = ["has_chinese", "one_language"]


def one_language(text) -> str:
    """The half of a bilingual message in the reader's language: "请填写标题 / a title is required" reads
    "请填写标题" in the Chinese interface and "a title is required" in the English one. Text that is not such a
    pair (`core.bilingual.halves`: no " / " outside quotation marks, nothing Chinese before it, or no English
    after it) is returned as it is."""
    pair = halves(text)
    if pair is None:
        return str(text)
    return pair[1] if (get_language() or "").startswith("en") else pair[0]
