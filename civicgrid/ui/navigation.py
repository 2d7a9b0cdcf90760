"""The menu: apps register entries with the capability that opens them; the menu shows what a user may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from civicgrid.foundation.access.scope import has_capability


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str  # Chinese; translated through gettext in the template
    url_name: str
    capability: str | tuple[str, ...] | None  # None: every signed-in user; a tuple: any of them
    order: int = 100
    icon: str = ""
    when: Callable[[object], bool] | None = None  # a further test of the user (e.g. who reports as the public)


_MENU: dict[str, MenuItem] = {}


def register(item: MenuItem) -> None:
    """Add or replace a menu entry (apps and scenarios call this in their AppConfig.ready)."""
    _MENU[item.key] = item


def menu_for(user) -> list[dict]:
    items = []
    for item in sorted(_MENU.values(), key=lambda i: (i.order, i.key)):
        wanted = item.capability if isinstance(item.capability, tuple) else (item.capability,)
        if item.capability and not any(has_capability(user, c) for c in wanted):
            continue
        if item.when is not None and not item.when(user):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"key": item.key, "label": item.label, "url": url, "icon": item.icon})
    return items
