"""Flood API: readings (rainfall, water level) from people and gauges, the district status, stations, tasks
(签收/完成) and the response level (raise, lower, lift). Handlers parse, call a service or selector, shape."""

from __future__ import annotations

from ninja import Query, Router, Schema
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.api_json import documented_enum
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.foundation.core.pagination import Limit, Offset, page

from . import selectors, services
from .models import Signal, Source, TaskStatus
from .schemas import (
    FloodLevelIn,
    FloodRainfallIn,
    FloodRainfallListOut,
    FloodRainfallOut,
    FloodReasonIn,
    FloodResponseOut,
    FloodStationListOut,
    FloodStatusOut,
    FloodTaskDoneIn,
    FloodTaskListOut,
    FloodTaskOut,
    FloodWaterLevelIn,
    FloodWaterLevelListOut,
    FloodWaterLevelOut,
)
from .services.common import VIEW, require

router = Router(tags=["flood"])
PREFIX = "/flood"


class FloodPageIn(Schema):
    limit: Limit = 50
    offset: Offset = 0


class FloodReadingFilterIn(FloodPageIn):
    street: str = ""
    station: str = ""
    signal: documented_enum(Signal.values, "a street signal", blank=True) = ""


class FloodTaskFilterIn(FloodPageIn):
    status: documented_enum([*TaskStatus.values, "open"], "a task status; open = not done", blank=True) = ""
    street: str = ""


def _view(request) -> None:
    require(request.user, VIEW, "查看防汛信息")


@router.post("/rainfall", response={200: FloodRainfallOut, 201: FloodRainfallOut, **errors(400, 401, 403, 409, 422)},
             url_name="flood_rainfall_create")
def create_rainfall(request, payload: FloodRainfallIn):
    """A rainfall reading (hand entry or a gauge): 201 with the stored reading and its `signal`; an exact replay
    answers 200 with the stored one; the same station/time/window with other values 409; bad values 422."""
    reading, created = services.record_rainfall(actor=request.user, source=Source.API, **payload.dict())
    return Status(201 if created else 200, reading)


@router.get("/rainfall", response={200: FloodRainfallListOut, **errors(400, 401, 403, 422)},
            url_name="flood_rainfall_list")
def list_rainfall(request, filters: Query[FloodReadingFilterIn]):
    """Rainfall readings in your scope, newest first (filters: street code, station code, signal)."""
    _view(request)
    qs = selectors.readings(request.user, street=filters.street[:15], station=filters.station[:64],
                            signal=filters.signal[:8])
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.post("/water-level",
             response={200: FloodWaterLevelOut, 201: FloodWaterLevelOut, **errors(400, 401, 403, 409, 422)},
             url_name="flood_water_level_create")
def create_water_level(request, payload: FloodWaterLevelIn):
    """A water-level reading, marked `over_warning` (超警戒) or `over_guaranteed` (超保证) against the station."""
    reading, created = services.record_water_level(actor=request.user, source=Source.API, **payload.dict())
    return Status(201 if created else 200, reading)


@router.get("/water-level", response={200: FloodWaterLevelListOut, **errors(400, 401, 403, 422)},
            url_name="flood_water_level_list")
def list_water_levels(request, filters: Query[FloodReadingFilterIn]):
    _view(request)
    items, total = page(selectors.water_levels(request.user, street=filters.street[:15]), limit=filters.limit,
                        offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.get("/status", response={200: FloodStatusOut, **errors(401, 403, 422)}, url_name="flood_status")
def get_status(request):
    """Season open, the district signal (highest active street signal), the response level, and the open tasks
    in your scope (district-wide for the command centre and district leaders)."""
    _view(request)
    return selectors.status(request.user)


@router.get("/stations", response={200: FloodStationListOut, **errors(401, 403, 422)}, url_name="flood_station_list")
def list_stations(request, filters: Query[FloodPageIn]):
    _view(request)
    items, total = page(selectors.stations(request.user), limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.get("/tasks", response={200: FloodTaskListOut, **errors(400, 401, 403, 422)}, url_name="flood_task_list")
def list_tasks(request, filters: Query[FloodTaskFilterIn]):
    """Response tasks in your scope with the actions you may take (`ack`, `done`)."""
    _view(request)
    qs = selectors.tasks(request.user, status=filters.status[:16], street=filters.street[:15])
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": selectors.with_actions(items, request.user), "count": len(items), "total": total}


@router.post("/tasks/{task_id}/ack", response={200: FloodTaskOut, **errors(401, 403, 404, 409, 422)},
             url_name="flood_task_ack")
def ack_task(request, task_id: int):
    """签收: 404 outside scope, 403 if the task is another's to act on, 409 if already acknowledged."""
    task = services.acknowledge(actor=request.user, task_id=task_id)
    return selectors.with_actions([task], request.user)[0]


@router.post("/tasks/{task_id}/done", response={200: FloodTaskOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="flood_task_done")
def done_task(request, task_id: int, payload: FloodTaskDoneIn):
    """完成 with a note (422 without one)."""
    task = services.complete(actor=request.user, task_id=task_id, note=payload.note)
    return selectors.with_actions([task], request.user)[0]


@router.post("/response/lift", response={200: FloodResponseOut, **errors(400, 401, 403, 409, 422)},
             url_name="flood_response_lift")
def lift(request, payload: FloodReasonIn):
    """解除应急响应 (command centre, leader) with a reason; clears the street signals; audited."""
    return services.lift_response(actor=request.user, reason=payload.reason)


@router.post("/response/level", response={200: FloodResponseOut, **errors(400, 401, 403, 409, 422)},
             url_name="flood_response_level")
def set_level(request, payload: FloodLevelIn):
    """Set the response level by hand (start, raise or lower) with a reason; audited."""
    if not request.user.is_authenticated:
        raise PermissionDenied("需要登录 / sign in first")
    return services.change_level(actor=request.user, level=payload.level, reason=payload.reason)


data_endpoint("api:flood_rainfall_list", "flood.RainfallReading", "list")
data_endpoint("api:flood_water_level_list", "flood.WaterLevelReading", "list")
data_endpoint("api:flood_station_list", "flood.Station", "list")
data_endpoint("api:flood_task_list", "flood.ResponseTask", "list")
# Counts within the caller's scope and the district-wide signal and level: no objects.
data_endpoint("api:flood_status", "flood.ResponseTask", "detail")
non_data_endpoint("api:flood_rainfall_create", "api:flood_water_level_create", "api:flood_task_ack",
                  "api:flood_task_done", "api:flood_response_lift", "api:flood_response_level")
