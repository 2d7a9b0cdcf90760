"""Scope contract hooks: one case per placement, in its grid and dispatched to the placement's department."""

import itertools

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import Case, Status

_seq = itertools.count(90001)


def _case(placement: Placement) -> Case:
    grid = placement.grid
    mark = placement.mark()
    return Case.objects.create(
        number=f"{timezone.localdate():%Y%m%d}{next(_seq):05d}", title=f"契约测试 {mark}", description=mark,
        source="grid_worker", status=Status.DISPATCHED, lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid,
        region_code=grid.code, department=placement.department, reported_at=timezone.now(),
    )


register_factory("cases.Case", _case)
