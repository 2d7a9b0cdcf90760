"""The command-centre board's views: the page, two htmx partials it refreshes every 30 s (today's figures and
counts; the overdue and newest lists) and the map's JSON. Thin: parse, call `selectors`, render."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from civicgrid.foundation.core import heartbeat
from civicgrid.ui.pages.common import page_view

from . import selectors
from .selectors import CAPABILITY

REFRESH_SECONDS = 30


def _case_url(number: str) -> str:
    # The case pages live in another app; the board links to them when they are installed.
    try:
        return reverse("ui:case_detail", args=[number])
    except NoReverseMatch:
        return ""


def figures_context(user) -> dict:
    """Today's figures, the status counts and the chart data (one JSON block the board script reads)."""
    figures = selectors.today_figures(user)
    statuses = selectors.status_counts(user)
    open_statuses = [s for s in statuses if s["open"]]  # 在办: the figure and its chart count the same cases
    return {
        # Without a running worker no warning, breach or escalation reaches this board: say so on it.
        "worker": heartbeat.status(),
        "figures": figures,
        "statuses": statuses,
        "open_total": sum(s["count"] for s in open_statuses),
        "updated_at": timezone.localtime(),
        "chart_data": {
            "flow": figures.as_list(),
            "statuses": open_statuses,
            "timely_closure_rate": figures.timely_closure_rate,
        },
    }


def lists_context(user) -> dict:
    """The overdue cases (the latest first, each with the step it is late at), how many are about to be (即将超期)
    and the newest open reports, with links to their pages."""
    overdue, overdue_total = selectors.overdue(user)
    latest = selectors.latest(user)
    for case in [*overdue, *latest]:
        case.url = _case_url(case.number)
    return {"overdue": overdue, "overdue_total": overdue_total, "due_soon_total": selectors.due_soon_count(user),
            "latest": latest}


@page_view(CAPABILITY)
def board(request):
    """指挥中心看板: today's figures, counts by status, the map, the overdue list and the newest reports."""
    context = {
        **figures_context(request.user),
        **lists_context(request.user),
        "scope_regions": selectors.scope_regions(request.user),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(request, "board/index.html", context)


@page_view(CAPABILITY)
def board_figures(request):
    """The figures partial (htmx, every 30 s)."""
    return render(request, "board/partials/figures.html", figures_context(request.user))


@page_view(CAPABILITY)
def board_lists(request):
    """The overdue and newest lists partial (htmx, every 30 s)."""
    return render(request, "board/partials/lists.html", lists_context(request.user))


def _zoom(value: str | None) -> int | None:
    try:
        zoom = int(value or "")
    except ValueError:
        return None
    return zoom if 0 <= zoom <= 22 else None


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """`min_lng,min_lat,max_lng,max_lat` as Leaflet's `getBounds().toBBoxString()` writes it; None if malformed."""
    try:
        parts = [float(p) for p in (value or "").split(",")]
    except ValueError:
        return None
    if len(parts) != 4:
        return None
    min_lng, min_lat, max_lng, max_lat = parts
    if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
        return None
    return min_lng, min_lat, max_lng, max_lat


@page_view(CAPABILITY)
def board_map(request):
    """Open cases for the map (JSON): clusters by street/community/grid for `zoom`, or single cases in `bbox`;
    a malformed zoom or bbox is ignored (the whole scope is answered)."""
    data = selectors.map_data(request.user, zoom=_zoom(request.GET.get("zoom")), bbox=_bbox(request.GET.get("bbox")))
    for item in data["items"]:
        item["url"] = _case_url(item["number"])
    response = JsonResponse(data)
    response["Cache-Control"] = "private, no-store"
    return response
