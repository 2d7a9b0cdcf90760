"""Scope contract hooks: one queue-state case (reported) per placement, for `api:router_triage`."""

import itertools

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import TriageCase

_seq = itertools.count(95001)


def _case(placement: Placement) -> TriageCase:
    grid = placement.grid
    mark = placement.mark()
    return TriageCase.objects.create(
        number=f"{timezone.localdate():%Y%m%d}{next(_seq):05d}", title=f"分拨契约测试 {mark}",
        title_masked=f"分拨契约测试 {mark}", description=mark,
        source="grid_worker", status="reported", lng=grid.centroid_lng, lat=grid.centroid_lat, grid=grid,
        region_code=grid.code, reported_at=timezone.now(),
        suggestion={"label": "区城管局", "confidence": 0.5, "top3": [], "model_version": "contract"},
    )


register_factory("router.TriageCase", _case)
