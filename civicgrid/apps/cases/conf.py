"""The case loop's settings, each with a default, read when used (so tests can override them).

Districts set these in their settings; none of them is a constant in code (DOMAIN.md: local rules are data). The
duplicate radius, window and text threshold, the merge's distance limit, the reopen days and the rating days also
come from the environment (config/settings.py, README's configuration table), checked at start.
"""

from __future__ import annotations

from django.conf import settings

# Time limits of the steps that are not the category's handling limit: (mode, amount), on the working calendar.
DEFAULT_STEP_LIMITS: dict[str, tuple[str, float]] = {
    "case.intake": ("working_hours", 2),  # 受理/立案
    "case.check": ("working_hours", 4),  # 核实
    "case.dispatch": ("working_hours", 1),  # 派遣
    "case.verify": ("working_hours", 4),  # 核查
    "case.close": ("working_hours", 2),  # 结案
}
# Handling limit of a case without a category (the category's own limit otherwise).
DEFAULT_HANDLE_LIMIT: tuple[str, float] = ("working_days", 3)


def step_limit(kind: str) -> tuple[str, float]:
    """The limit of a step clock kind (`settings.CIVICGRID_CASE_SLA` overrides entries of the defaults)."""
    limits = {**DEFAULT_STEP_LIMITS, **getattr(settings, "CIVICGRID_CASE_SLA", {})}
    mode, amount = limits[kind]
    return mode, float(amount)


def default_handle_limit() -> tuple[str, float]:
    mode, amount = getattr(settings, "CIVICGRID_CASE_DEFAULT_HANDLE_LIMIT", DEFAULT_HANDLE_LIMIT)
    return mode, float(amount)


def reopen_days() -> int:
    return int(getattr(settings, "CIVICGRID_REOPEN_DAYS", 7))


def rating_days() -> int:
    """Days after 结案 in which a reporter may rate the closing (`CIVICGRID_RATING_DAYS`; unset: the reopen days).
    One window for the reporter's one question, is it solved: rate it, or ask for it to be reopened; and 满意度
    counts in the period's evaluation, which a rating weeks later would change after the fact."""
    days = getattr(settings, "CIVICGRID_RATING_DAYS", None)
    return reopen_days() if days is None else int(days)


def duplicate_radius_m() -> float:
    return float(getattr(settings, "CIVICGRID_DUPLICATE_RADIUS_M", 200))


# The hard limit on how far a duplicate may be from the case it joins, in multiples of the duplicate radius, when
# `CIVICGRID_MERGE_MAX_DISTANCE_M` is not set. The points of one problem told by different people differ: a phone's
# GPS among buildings by tens of metres, a hotline address geocoded to a building, an estate or a stretch of
# road by a few hundred, a point sent in GCJ-02 without saying so by 100–700 m. Five radii (1 km by default)
# leave room for all of these, so a dispatcher who knows the two reports are one problem can merge them with a
# reason; farther apart they lie blocks away, usually in another community, and "the same problem" is a claim
# no reason makes true: the reporter would be told something false, and a merge cannot be undone.
MERGE_DISTANCE_RADII = 5


def merge_max_distance_m() -> float:
    """How far apart a duplicate and the case it joins may be at all, a reason or not (`actions_intake.merge`):
    `CIVICGRID_MERGE_MAX_DISTANCE_M` (0, the default: `MERGE_DISTANCE_RADII` × the duplicate radius), never less
    than the radius (a case the duplicate finder offers is never refused for its distance)."""
    radius = duplicate_radius_m()
    limit = float(getattr(settings, "CIVICGRID_MERGE_MAX_DISTANCE_M", 0) or 0)
    return max(limit or MERGE_DISTANCE_RADII * radius, radius)


def duplicate_hours() -> float:
    """The window of the closed cases offered as possible duplicates: closed within so many hours before or after
    the report. Open and 挂账 cases nearby are offered however old (`duplicates.candidates`)."""
    return float(getattr(settings, "CIVICGRID_DUPLICATE_HOURS", 72))


def duplicate_min_text() -> float:
    """How alike (0–1, `duplicates.TextScorer`) a case of a related category, or any case near a report without
    one, must read to be offered as a duplicate; the same category is offered by place and time alone."""
    return float(getattr(settings, "CIVICGRID_DUPLICATE_MIN_TEXT", 0.2))


def max_photo_bytes() -> int:
    return int(getattr(settings, "CIVICGRID_MAX_PHOTO_BYTES", 10 * 1024 * 1024))


def max_photos_per_request() -> int:
    return int(getattr(settings, "CIVICGRID_MAX_PHOTOS_PER_REQUEST", 9))
