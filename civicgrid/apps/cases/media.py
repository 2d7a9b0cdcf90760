"""Links to photos or videos a reporter sent from elsewhere rather than uploaded: an Open311 client's `media_url`
with a report or an update, a comment's `media_url`. Staff see them on the case page and in the API's case detail,
as links marked external: the server never fetches them (it talks to no outside host), so what they show is
whatever the outside host serves, to whoever opens them.

A channel that keeps such links beside the case registers a source (`register`): `source(case)` returns
`(report_links, {step_id: links})`. The comments service keeps a comment's link in its step's data, read here.
Only http(s) links are given as links; anything else (a comment from another channel may carry any text) is left
out of the links and shown as text by no one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .models import Case

SOURCES: list[Callable[[Case], tuple[list[str], dict[int, list[str]]]]] = []


def register(source: Callable[[Case], tuple[list[str], dict[int, list[str]]]]):
    """Add a channel's source of external links (at app start-up); returns it."""
    if source not in SOURCES:
        SOURCES.append(source)
    return source


def linkable(url) -> bool:
    """An http(s) link to a host, without spaces: anything else is not offered as a link."""
    text = str(url or "")
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in text)


@dataclass
class ExternalMedia:
    report: list[str] = field(default_factory=list)  # sent with the report
    steps: dict[int, list[str]] = field(default_factory=dict)  # sent with a later step (a comment, a reopening)


def _add(into: list[str], urls) -> None:
    for url in urls or ():
        if linkable(url) and url not in into:
            into.append(url)


def external_media(case: Case, steps=None) -> ExternalMedia:
    """The external links sent with `case` and with its steps (`steps`: the steps already read, else read here)."""
    found = ExternalMedia()
    for step in (steps if steps is not None else case.steps.all()):
        if isinstance(step.data, dict) and step.data.get("media_url"):
            _add(found.steps.setdefault(step.pk, []), [step.data["media_url"]])
    for source in SOURCES:
        report, by_step = source(case)
        _add(found.report, report)
        for pk, urls in (by_step or {}).items():
            _add(found.steps.setdefault(pk, []), urls)
    found.steps = {pk: urls for pk, urls in found.steps.items() if urls}
    return found
