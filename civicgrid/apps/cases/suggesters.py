"""What intake asks of an outer layer without importing it: a suggestion for a free-text report.

The text router (an integration) registers its ``suggest(text, *, categories=True) -> dict | None`` when its
app is ready; intake calls whatever is registered (``services.intake.router_suggestion``). With nothing
registered (the router app not installed) reports simply carry no suggestion. Apps never import integrations
(docs/architecture.md).

``categories`` says whether intake needs the subclasses the text matches: not for a report filed under a
subclass (the 立案 form starts from the report's own; the pages that list them match the text when they show
it). The batch form takes one such flag per text (``categories=[…]``).
"""

from __future__ import annotations

from collections.abc import Callable

Suggester = Callable[..., dict | None]  # (text, *, categories: bool = True)
ManySuggester = Callable[..., list[dict | None]]  # (texts, *, categories: list[bool] | None = None)

_registered: Suggester | None = None
_registered_many: ManySuggester | None = None


def register(func: Suggester, many: ManySuggester | None = None) -> Suggester:
    """Make ``func`` the suggester intake calls (the last registration wins); ``many``, when given, answers a
    list of texts at once (a batch of queued reports), each as ``func`` would."""
    global _registered, _registered_many
    _registered, _registered_many = func, many
    return func


def registered() -> Suggester | None:
    """The registered suggester, or None."""
    return _registered


def registered_many() -> ManySuggester | None:
    """The registered batch suggester, or None."""
    return _registered_many
