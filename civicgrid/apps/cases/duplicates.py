"""Possible duplicates of a report: open cases of the same or a sibling category, nearby and recent.

`candidates(...)` prefilters in SQL with a bounding box around the point and the time window (indexes on
`reported_at`/`status` keep it small), then measures the great-circle distance in Python and keeps those within
the radius, nearest first. `similarity(a, b)` (character-bigram cosine) scores the texts for display; the text
router may later replace it with its own model (`SIMILARITY` is the hook).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from . import conf
from .models import OPEN_STATUSES, Case

EARTH_RADIUS_M = 6_371_008.8
MAX_CANDIDATES = 20


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _bigrams(text: str) -> Counter:
    compact = "".join(ch for ch in (text or "").lower() if ch.isalnum())
    if len(compact) == 1:
        return Counter([compact])
    return Counter(compact[i:i + 2] for i in range(len(compact) - 1))


def similarity(text_a: str, text_b: str) -> float:
    """Cosine similarity of the character-bigram counts of two texts (0.0 … 1.0); works on Chinese as is."""
    a, b = _bigrams(text_a), _bigrams(text_b)
    if not a or not b:
        return 0.0
    dot = sum(count * b[gram] for gram, count in a.items() if gram in b)
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


# The router colleague may point this at a better text model; candidates() only ever calls it through here.
SIMILARITY = similarity


@dataclass(frozen=True)
class Candidate:
    """One possible duplicate, with how far it is and how alike the texts are."""

    case: Case
    distance_m: float
    text_score: float


def _category_q(category) -> Q:
    """The same category or one of its siblings under the same parent class (or the class itself)."""
    if category is None:
        return Q()
    if category.parent_id is None:  # a class: itself and its subclasses
        return Q(category_id=category.pk) | Q(category__parent_id=category.pk)
    return Q(category_id=category.pk) | Q(category__parent_id=category.parent_id) | Q(category_id=category.parent_id)


def candidates(case: Case | None = None, *, lng: float | None = None, lat: float | None = None, category=None,
               at: datetime | None = None, text: str = "", radius_m: float | None = None,
               hours: float | None = None, queryset=None, limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """Open cases near `case` (or the point/category/time given) within `radius_m` and ±`hours`, nearest first.

    `queryset` narrows the search (e.g. `Case.objects.visible_to(user)` in an API); the case itself, and
    cases merged into others, are never candidates.
    """
    radius_m = conf.duplicate_radius_m() if radius_m is None else float(radius_m)
    hours = conf.duplicate_hours() if hours is None else float(hours)
    if case is not None:
        lng, lat, category, at = case.lng, case.lat, case.category, case.reported_at
        text = text or f"{case.title} {case.description}"
    if lng is None or lat is None:
        return []
    at = at or timezone.now()
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(lat)), 0.01)
    qs = (queryset if queryset is not None else Case.objects.all()).filter(
        _category_q(category),
        status__in=OPEN_STATUSES,
        lng__gte=lng - dlng, lng__lte=lng + dlng, lat__gte=lat - dlat, lat__lte=lat + dlat,
        reported_at__gte=at - timedelta(hours=hours), reported_at__lte=at + timedelta(hours=hours),
    )
    if case is not None:
        qs = qs.exclude(pk=case.pk)
    rows = list(qs.select_related("category", "department")[:500])
    found = []
    for other in rows:
        distance = haversine_m(lng, lat, other.lng, other.lat)
        if distance <= radius_m:
            found.append(Candidate(other, round(distance, 1), round(SIMILARITY(text, f"{other.title} {other.description}"), 3)))
    found.sort(key=lambda c: (c.distance_m, -c.text_score, c.case.pk))
    return found[:limit]
