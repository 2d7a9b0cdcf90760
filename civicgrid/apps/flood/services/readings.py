"""Rainfall and water-level readings: by hand, by file, by a gauge's API token. One write path each.

A reading is checked before anything is written (values, time, place, scope), stored once per station, time
and window (an exact replay returns the stored reading; the same key with other values is a 409), and a rainfall
reading then goes to `response.apply_reading`, which raises the street's signal and the district's response.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.errors import Conflict, PermissionDenied
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.regions.selectors import OutsideDistrict, locate

from .. import rules
from ..models import (
    RainfallReading,
    Source,
    Station,
    StationKind,
    WaterLevelReading,
    WaterStatus,
)
from . import response
from .common import REPORT, Invalid, is_system, publish, record, require_code, user_or_none

_STATION = re.compile(r"^[^\x00-\x1f\x7f<>]{1,64}$")


@dataclass(frozen=True)
class Place:
    """Where a point lies: its grid (or community) code, its street code, the region row."""

    region: Region
    street_code: str
    lng: float
    lat: float


def clean_station(value) -> str:
    code = str(value or "").strip()
    if not code:
        raise Invalid("请填写站点编号 / station is required", field="station")
    if not _STATION.match(code):
        raise Invalid("站点编号最长 64 个字符，不能含控制字符或尖括号 / invalid station code", field="station")
    return code


def clean_coordinate(value, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{'纬度' if name == 'lat' else '经度'}须为数字 / {name} must be a number", field=name) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise Invalid(f"{'纬度' if name == 'lat' else '经度'}超出范围 / {name} out of range", field=name)
    return number


def clean_time(value, *, now: datetime | None = None) -> datetime:
    """An aware instant (a time without zone is district time), not later than now plus the clock skew."""
    if isinstance(value, datetime):
        at = value
    else:
        text = str(value or "").strip()
        try:
            at = parse_datetime(text.replace("Z", "+00:00")) if text else None
        except ValueError:
            at = None
        if at is None:
            raise Invalid("观测时间格式应为 YYYY-MM-DDTHH:MM[:SS][+08:00] / observed_at must be an ISO date-time",
                          field="observed_at")
    if timezone.is_naive(at):
        at = timezone.make_aware(at, timezone.get_default_timezone())
    at = at.replace(microsecond=0)
    now = now or timezone.now()
    if at > now + timedelta(minutes=rules.CLOCK_SKEW_MINUTES):
        raise Invalid("观测时间晚于当前时间，不能录入未来的观测 / observed_at is in the future", field="observed_at")
    if at.year < 2000:
        raise Invalid("观测时间过早 / observed_at is too far in the past", field="observed_at")
    return at


def clean_window(value) -> int:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("时段须为整数小时 / window_hours must be a whole number of hours", field="window_hours") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise Invalid("时段须为整数小时 / window_hours must be a whole number of hours", field="window_hours")
    hours = int(number)
    if not 1 <= hours <= rules.MAX_WINDOW_HOURS:
        raise Invalid(f"时段须在 1–{rules.MAX_WINDOW_HOURS} 小时之间 / window_hours must be 1..{rules.MAX_WINDOW_HOURS}",
                      field="window_hours")
    return hours


def clean_rain(value, window_hours: int) -> Decimal:
    """Millimetres to 0.01 mm; negative or beyond what rain can do in the window is refused."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("雨量须为数字（毫米） / rain_mm must be a number", field="rain_mm") from None
    if not amount.is_finite():
        raise Invalid("雨量须为数字（毫米） / rain_mm must be a number", field="rain_mm")
    if amount < 0:
        raise Invalid("雨量不能为负数 / rain_mm cannot be negative", field="rain_mm")
    limit = min(rules.MAX_RAIN_PER_HOUR_MM * window_hours, rules.MAX_RAIN_MM)
    if amount > limit:
        raise Invalid(f"{window_hours} 小时雨量 {amount} 毫米超出可能范围（上限 {limit} 毫米），请核对 / "
                      f"rain_mm is impossible for the window (limit {limit} mm)", field="rain_mm")
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def clean_level(value) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("水位须为数字（米） / level_m must be a number", field="level_m") from None
    if not amount.is_finite() or not Decimal("-100") <= amount <= Decimal("10000"):
        raise Invalid("水位超出可能范围 / level_m is out of range", field="level_m")
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def place_of(lng: float, lat: float) -> Place:
    """The grid and street of a point; a point outside the district is refused (422)."""
    try:
        found = locate(lng, lat)
    except OutsideDistrict as exc:
        raise Invalid(exc.message, field="lat") from None
    unit = found.grid or found.community
    if unit is None or found.street is None:
        raise Invalid("该位置不在本区网格内 / the point lies in no grid of the district", field="lat")
    return Place(region=Region.objects.get(code=unit.code), street_code=found.street.code, lng=found.lng,
                 lat=found.lat)


def _may_feed(actor, station: Station | None) -> bool:
    return station is not None and station.feed_user_id is not None and station.feed_user_id == getattr(actor, "pk", 0)


def _station_for(actor, code: str, place: Place, kind: str, **levels) -> Station:
    """The station with this code, or a new one registered at the reading's point (named by its code)."""
    station = Station.objects.filter(code=code).first()
    if station is not None:
        if not station.is_active:
            raise Invalid(f"站点 {code} 已停用 / the station is inactive", field="station")
        return station
    station = Station.objects.create(
        code=code, name=code, kind=kind, lng=place.lng, lat=place.lat, grid=place.region,
        region_code=place.region.code, street_code=place.street_code, **{k: v for k, v in levels.items() if v is not None},
    )
    record(actor, "station_registered", station, after=snapshot(station), data={"by": "first reading"})
    return station


def _check_actor(actor, station: Station | None, place: Place) -> None:
    if is_system(actor) or _may_feed(actor, station):
        return
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("需要登录 / sign in first")
    require_code(actor, REPORT, place.region.code, "录入观测")


def rainfall_payload(reading: RainfallReading) -> dict:
    return {"id": reading.pk, "station": reading.station.code, "street_code": reading.street_code,
            "region_code": reading.region_code, "observed_at": timezone.localtime(reading.observed_at).isoformat(),
            "window_hours": reading.window_hours, "rain_mm": str(reading.rain_mm), "signal": reading.signal}


def record_rainfall(*, actor, station, lat, lng, observed_at, window_hours, rain_mm,
                    source: str = Source.MANUAL) -> tuple[RainfallReading, bool]:
    """Store one rainfall reading and apply its signal; returns (reading, created). Exact replays return the
    stored reading (created False); the same station/time/window with other values is a 409."""
    code = clean_station(station)
    lat_v = clean_coordinate(lat, "lat", -90, 90)
    lng_v = clean_coordinate(lng, "lng", -180, 180)
    at = clean_time(observed_at)
    window = clean_window(window_hours)
    amount = clean_rain(rain_mm, window)
    place = place_of(lng_v, lat_v)
    with transaction.atomic():
        rules.ensure_defaults()
        existing_station = Station.objects.filter(code=code).first()
        _check_actor(actor, existing_station, place)
        if existing_station is not None:
            same = RainfallReading.objects.filter(station=existing_station, observed_at=at, window_hours=window).first()
            if same is not None:
                return _replay(same, amount, lat_v, lng_v), False
        st = _station_for(actor, code, place, StationKind.RAIN)
        signal = rules.signal_for(window, amount, rules.active_thresholds())
        reading = RainfallReading(
            station=st, observed_at=at, window_hours=window, rain_mm=amount, lng=lng_v, lat=lat_v,
            region_code=place.region.code, street_code=place.street_code, signal=signal, source=source,
            entered_by=user_or_none(actor),
        )
        try:
            with transaction.atomic():
                reading.save()
        except IntegrityError:
            same = RainfallReading.objects.get(station=st, observed_at=at, window_hours=window)
            return _replay(same, amount, lat_v, lng_v), False
        record(actor, "rainfall_recorded", reading, after=snapshot(reading))
        publish("rainfall_recorded", payload=rainfall_payload(reading), aggregate=reading)
        response.apply_reading(reading, actor=actor)
    return reading, True


def _replay(same: RainfallReading, amount: Decimal, lat: float, lng: float) -> RainfallReading:
    if same.rain_mm == amount and abs(same.lat - lat) < 1e-7 and abs(same.lng - lng) < 1e-7:
        return same
    raise Conflict(f"该站点此时段已有观测（{same.rain_mm} 毫米），数值不同；如需更正请联系指挥中心 / "
                   "a different reading of this station, time and window is already stored")


def water_status(station: Station, level: Decimal) -> str:
    if station.guaranteed_level_m is not None and level >= station.guaranteed_level_m:
        return WaterStatus.OVER_GUARANTEED
    if station.warning_level_m is not None and level >= station.warning_level_m:
        return WaterStatus.OVER_WARNING
    return WaterStatus.NORMAL


def record_water_level(*, actor, station, lat, lng, observed_at, level_m, warning_level_m=None,
                       guaranteed_level_m=None, source: str = Source.MANUAL) -> tuple[WaterLevelReading, bool]:
    """Store one water level, marked 超警戒/超保证 against the station's levels; street staff are told when it is."""
    code = clean_station(station)
    lat_v = clean_coordinate(lat, "lat", -90, 90)
    lng_v = clean_coordinate(lng, "lng", -180, 180)
    at = clean_time(observed_at)
    level = clean_level(level_m)
    warn = clean_level(warning_level_m) if warning_level_m not in (None, "") else None
    guard = clean_level(guaranteed_level_m) if guaranteed_level_m not in (None, "") else None
    if warn is not None and guard is not None and guard < warn:
        raise Invalid("保证水位不能低于警戒水位 / guaranteed level below warning level", field="guaranteed_level_m")
    place = place_of(lng_v, lat_v)
    with transaction.atomic():
        existing_station = Station.objects.filter(code=code).first()
        _check_actor(actor, existing_station, place)
        if existing_station is not None:
            same = WaterLevelReading.objects.filter(station=existing_station, observed_at=at).first()
            if same is not None:
                if same.level_m == level:
                    return same, False
                raise Conflict("该站点此时刻已有不同的水位观测 / a different level of this station and time is stored")
        st = _station_for(actor, code, place, StationKind.WATER, warning_level_m=warn, guaranteed_level_m=guard)
        reading = WaterLevelReading(
            station=st, observed_at=at, level_m=level, lng=lng_v, lat=lat_v, region_code=place.region.code,
            street_code=place.street_code, status=water_status(st, level), source=source,
            entered_by=user_or_none(actor),
        )
        try:
            with transaction.atomic():
                reading.save()
        except IntegrityError:
            raise Conflict("该站点此时刻已有水位观测 / a level of this station and time is stored") from None
        record(actor, "water_level_recorded", reading, after=snapshot(reading))
        publish("water_level_recorded", payload={"id": reading.pk, "station": st.code, "level_m": str(level),
                                                 "status": reading.status, "street_code": reading.street_code},
                aggregate=reading)
        if reading.status != WaterStatus.NORMAL:
            response.tell_water_alarm(reading)
    return reading, True
