"""The words inbox titles open with: a title reads "<words>：<which>" (新任务：2026…, 物资即将过期：一号仓库 …).

Titles are stored in the district's language and `Notification.shown_title` shows the words in the reader's
language through the catalogue. Each app registers every title's words it sends, marked with `gettext_noop`
so that makemessages puts them in the catalogue, and `services.notify` refuses a title whose words nobody
registered: a new title cannot reach an inbox without an entry to translate it (`test_titles` checks that each
registered one has its English).
"""

from __future__ import annotations

SEPARATOR = "："
_REGISTERED: set[str] = set()


class UnregisteredTitle(ValueError):
    """A title opens with words no app registered: the English inbox could not translate it."""


def register(*words: str) -> tuple[str, ...]:
    """Register the words titles open with (each marked with `gettext_noop`); returns them."""
    for word in words:
        if not word or SEPARATOR in word:
            raise ValueError(f"title words must be non-empty and without {SEPARATOR!r}: {word!r}")
    _REGISTERED.update(words)
    return words


def registered() -> frozenset[str]:
    """Every registered opening (for tests and the catalogue check)."""
    return frozenset(_REGISTERED)


def words_of(title: str) -> str | None:
    """The words a title opens with (before the first "："), or None for a title that is data throughout."""
    words, sep, _rest = title.partition(SEPARATOR)
    return words if sep else None


def check(title: str) -> None:
    """Refuse a title that opens with unregistered words."""
    words = words_of(title)
    if words is not None and words not in _REGISTERED:
        raise UnregisteredTitle(f"inbox title words {words!r} are not registered: add them to the sending app's "
                                f"titles.register(gettext_noop(...)) and give them an English translation")
