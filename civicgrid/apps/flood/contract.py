"""Scope contract hooks: flood rows at each placement (stations and readings in its grid; rosters, signals and
tasks on its street, tasks carrying the placement's department), all under one active response."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import (
    DutyRoster,
    FloodResponse,
    RainfallReading,
    ResponseTask,
    Station,
    TaskTarget,
    WaterLevelReading,
)

_seq = itertools.count(1)


def _station(placement: Placement) -> Station:
    grid = placement.grid
    mark = placement.mark()
    return Station.objects.create(code=f"CT-{next(_seq):04d}", name=mark, lng=grid.centroid_lng,
                                  lat=grid.centroid_lat, grid=grid, region_code=grid.code,
                                  street_code=placement.street.code)


def _station_at(placement: Placement) -> Station:
    return placement.objects.get("flood.station") or placement.objects.setdefault("flood.station",
                                                                                  _station(placement))


def _rainfall(placement: Placement) -> RainfallReading:
    st = _station_at(placement)
    return RainfallReading.objects.create(
        station=st, observed_at=timezone.now() - timedelta(minutes=next(_seq)), window_hours=3, rain_mm=1,
        lng=st.lng, lat=st.lat, region_code=st.region_code, street_code=st.street_code)


def _water(placement: Placement) -> WaterLevelReading:
    st = _station_at(placement)
    return WaterLevelReading.objects.create(
        station=st, observed_at=timezone.now() - timedelta(minutes=next(_seq)), level_m=1, lng=st.lng, lat=st.lat,
        region_code=st.region_code, street_code=st.street_code)


def _roster(placement: Placement) -> DutyRoster:
    street = placement.street
    return DutyRoster.objects.create(street=street, region_code=street.code, duty_date=timezone.localdate(),
                                     person=placement.mark(), post="值班员")


def _task(placement: Placement) -> ResponseTask:
    response = FloodResponse.objects.filter(is_active=True).first() or FloodResponse.objects.create(
        level="IV", started_at=timezone.now())
    street = placement.street
    return ResponseTask.objects.create(
        response=response, level="IV", target=TaskTarget.DEPARTMENT, title=placement.mark(), street=street,
        region_code=street.code, department=placement.department, issued_at=timezone.now())


register_factory("flood.Station", _station)
register_factory("flood.RainfallReading", _rainfall)
register_factory("flood.WaterLevelReading", _water)
register_factory("flood.DutyRoster", _roster)
register_factory("flood.ResponseTask", _task)
