"""Scope contract hooks: one hazard per placement, in its grid, with the placement's department as its 包保
(patron) department. The campaigns' factories live in `contract_campaigns` (another module, loaded here)."""

import itertools

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import Hazard, Kind, Rectification, Status

_seq = itertools.count(1)


def _hazard(placement: Placement) -> Hazard:
    grid = placement.grid
    mark = placement.mark()
    hazard = Hazard.objects.create(
        code=f"HT-{timezone.localdate():%Y}-{next(_seq):05d}", name=f"契约测试隐患 {mark}", kind=Kind.FLOOD,
        category="low_lying", status=Status.REGISTERED, description=mark, found_on=timezone.localdate(),
        lng=grid.centroid_lng, lat=grid.centroid_lat, address=mark, grid=grid, region_code=grid.code,
        street_code=grid.code[:9], patron_department=placement.department, registered_at=timezone.now(),
        is_synthetic=True,
    )
    Rectification.objects.create(hazard=hazard, measures=mark)
    return hazard


register_factory("hazards.Hazard", _hazard)

try:
    from . import contract_campaigns  # noqa: F401
except ImportError:
    pass
