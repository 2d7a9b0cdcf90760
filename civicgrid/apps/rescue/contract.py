"""Scope contract hooks: a team per placement (in its community, run by the placement's department) and an
incident in the placement's grid with that team called out to it (so department grants reach it)."""

import itertools

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import CallOut, Incident, RescueTeam, TeamKind

_seq = itertools.count(1)


def _team(placement: Placement) -> RescueTeam:
    mark = placement.mark()
    region = placement.community
    return RescueTeam.objects.create(
        code=f"CT-{next(_seq):05d}", name=f"契约测试队伍 {mark}", kind=TeamKind.STREET, region=region,
        region_code=region.code, organisation=placement.department, leader_name=mark, leader_phone_masked="138****0000",
    )


def _incident(placement: Placement) -> Incident:
    grid = placement.grid
    mark = placement.mark()
    team = _team(placement)
    incident = Incident.objects.create(
        code=f"XQ-CT-{next(_seq):05d}", title=f"契约测试险情 {mark}", description=mark, lng=grid.centroid_lng,
        lat=grid.centroid_lat, grid=grid, region_code=grid.code, street_code=grid.code[:9], opened_at=timezone.now(),
    )
    CallOut.objects.create(incident=incident, team=team, called_at=timezone.now())
    return incident


register_factory("rescue.RescueTeam", _team)
register_factory("rescue.Incident", _incident)
