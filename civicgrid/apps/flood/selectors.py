"""Reads for pages and the API, always from the scoped querysets."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from civicgrid.apps.hazards.models import OPEN_STATUSES as HAZARD_OPEN
from civicgrid.apps.hazards.models import Hazard
from civicgrid.apps.hazards.models import Kind as HazardKind
from civicgrid.foundation.regions.models import Region

from . import rules
from .models import (
    OPEN_TASK_STATUSES,
    DutyRoster,
    RainfallReading,
    ResponseTask,
    Station,
    StreetSignal,
    WaterLevelReading,
)
from .services.response import active_response, district_signal
from .workflow import TASK_WORKFLOW


def status(user) -> dict:
    """The district's flood status. `open_tasks` counts the open tasks within the caller's scope: the whole
    district for district roles (command centre, leaders), a street for its staff, a 包保 department's streets."""
    response = active_response()
    return {
        "season_open": rules.season_open(),
        "signal": district_signal(),
        "response_level": response.level if response else None,
        "open_tasks": ResponseTask.objects.visible_to(user, "view").filter(status__in=OPEN_TASK_STATUSES).count(),
    }


def readings(user, *, street: str = "", station: str = "", signal: str = ""):
    qs = RainfallReading.objects.visible_to(user, "view").select_related("station")
    if street:
        qs = qs.filter(street_code=street)
    if station:
        qs = qs.filter(station__code=station)
    if signal:
        qs = qs.filter(signal=signal)
    return qs.order_by("-observed_at", "-id")


def water_levels(user, *, street: str = ""):
    qs = WaterLevelReading.objects.visible_to(user, "view").select_related("station")
    return (qs.filter(street_code=street) if street else qs).order_by("-observed_at", "-id")


def stations(user):
    return Station.objects.visible_to(user, "view").order_by("code")


def tasks(user, *, status: str = "", street: str = ""):
    qs = (ResponseTask.objects.visible_to(user, "view")
          .select_related("street", "department", "acknowledged_by", "done_by"))
    if status == "open":
        qs = qs.filter(status__in=OPEN_TASK_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if street:
        qs = qs.filter(region_code=street)
    return qs.order_by("status", "-issued_at", "region_code", "id")


def with_actions(items, user) -> list:
    for task in items:
        task.allowed_actions = [t.name for t in TASK_WORKFLOW.allowed(task, user)]
    return items


def hazards_for(user, task: ResponseTask) -> list[Hazard]:
    """The open flood hazard points of a patrol task's street that the user may see."""
    if not task.lists_hazards:
        return []
    return list(Hazard.objects.visible_to(user, "view").filter(kind=HazardKind.FLOOD, street_code=task.region_code,
                                                                status__in=HAZARD_OPEN).order_by("code")[:200])


def open_tasks_by_street(user) -> list[dict]:
    names = dict(Region.objects.filter(level="street").values_list("code", "name"))
    rows = (ResponseTask.objects.visible_to(user, "view").values("region_code")
            .annotate(open=Count("id", filter=Q(status__in=OPEN_TASK_STATUSES)),
                      overdue=Count("id", filter=Q(status__in=OPEN_TASK_STATUSES, is_overdue=True)),
                      total=Count("id"))
            .order_by("region_code"))
    return [{**r, "name": names.get(r["region_code"], r["region_code"])} for r in rows]


def street_signals():
    return StreetSignal.objects.filter(is_active=True).select_related("street").order_by("region_code")


def rosters(user, *, street: str = "", days: int = 7):
    today = timezone.localdate()
    qs = DutyRoster.objects.visible_to(user, "view").select_related("street")
    if street:
        qs = qs.filter(region_code=street)
    return qs.filter(duty_date__gte=today).order_by("region_code", "duty_date", "-is_leader", "id")
