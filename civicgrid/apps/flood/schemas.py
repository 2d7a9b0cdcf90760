"""Input and output shapes of the flood API (class names carry the Flood prefix: they are unique in the API)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from civicgrid.foundation.core.api_json import StrictIn, documented_enum

from .models import Level


class FloodRainfallIn(StrictIn):
    station: str
    lat: float
    lng: float
    observed_at: str  # ISO 8601; without a zone it is district time (Asia/Shanghai)
    window_hours: int
    rain_mm: float


class FloodRainfallOut(Schema):
    id: int
    station: str
    station_name: str
    lat: float
    lng: float
    observed_at: datetime
    window_hours: int
    rain_mm: float
    signal: str  # none | blue | yellow | orange | red
    street_code: str
    grid_code: str
    source: str
    created_at: datetime

    @staticmethod
    def resolve_station(obj):
        return obj.station.code

    @staticmethod
    def resolve_station_name(obj):
        return obj.station.name

    @staticmethod
    def resolve_grid_code(obj):
        return obj.region_code

    @staticmethod
    def resolve_rain_mm(obj):
        return float(obj.rain_mm)


class FloodRainfallListOut(Schema):
    items: list[FloodRainfallOut]
    count: int
    total: int


class FloodWaterLevelIn(StrictIn):
    station: str
    lat: float
    lng: float
    observed_at: str
    level_m: float
    warning_level_m: float | None = None  # for a station not yet registered
    guaranteed_level_m: float | None = None


class FloodWaterLevelOut(Schema):
    id: int
    station: str
    lat: float
    lng: float
    observed_at: datetime
    level_m: float
    status: str  # normal | over_warning (超警戒) | over_guaranteed (超保证)
    warning_level_m: float | None
    guaranteed_level_m: float | None
    street_code: str
    grid_code: str

    @staticmethod
    def resolve_station(obj):
        return obj.station.code

    @staticmethod
    def resolve_level_m(obj):
        return float(obj.level_m)

    @staticmethod
    def resolve_warning_level_m(obj):
        value = obj.station.warning_level_m
        return float(value) if value is not None else None

    @staticmethod
    def resolve_guaranteed_level_m(obj):
        value = obj.station.guaranteed_level_m
        return float(value) if value is not None else None

    @staticmethod
    def resolve_grid_code(obj):
        return obj.region_code


class FloodWaterLevelListOut(Schema):
    items: list[FloodWaterLevelOut]
    count: int
    total: int


class FloodStatusOut(Schema):
    season_open: bool
    signal: str
    response_level: str | None
    open_tasks: int


class FloodStationOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    lat: float
    lng: float
    street_code: str
    grid_code: str
    is_active: bool

    @staticmethod
    def resolve_grid_code(obj):
        return obj.region_code


class FloodStationListOut(Schema):
    items: list[FloodStationOut]
    count: int
    total: int


class FloodTaskOut(Schema):
    id: int
    level: str
    target: str  # street | department
    title: str
    description: str
    street_code: str
    street_name: str
    department_id: int | None
    department_name: str | None
    status: str  # issued | acknowledged | done
    issued_at: datetime
    ack_due_at: datetime | None
    acknowledged_at: datetime | None
    done_at: datetime | None
    done_note: str
    is_overdue: bool
    allowed_actions: list[str]

    @staticmethod
    def resolve_street_code(obj):
        return obj.region_code

    @staticmethod
    def resolve_street_name(obj):
        return obj.street.name

    @staticmethod
    def resolve_department_name(obj):
        return obj.department.name if obj.department_id else None

    @staticmethod
    def resolve_allowed_actions(obj):
        return getattr(obj, "allowed_actions", [])


class FloodTaskListOut(Schema):
    items: list[FloodTaskOut]
    count: int
    total: int


class FloodTaskDoneIn(StrictIn):
    note: str = ""


class FloodReasonIn(StrictIn):
    reason: str = ""


class FloodLevelIn(StrictIn):
    level: documented_enum(Level.values, "the response level")
    reason: str = ""


class FloodResponseOut(Schema):
    id: int
    level: str | None
    is_active: bool
    started_at: datetime
    ended_at: datetime | None
    end_reason: str

    @staticmethod
    def resolve_level(obj):
        return obj.level if obj.is_active else None
