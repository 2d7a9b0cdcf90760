"""Where is this point? A process-wide `Locator` over the stored grid boundaries, kept in step with the database.

Building the index costs ~50 ms for ~1,000 grids, so each process keeps one and rebuilds it only when region
data changed. Change is detected by a version stamp (row count and latest `updated_at` of all regions): our own
services invalidate the index after their commit, and other processes (the second web worker, the worker, an
import run from the command line) are noticed by re-reading the stamp at most every
`CIVICGRID_LOCATOR_RECHECK_SECONDS` (default 2 s; 0 under tests, whose transactions roll back).

A point on a shared edge or vertex belongs to the grid with the smallest code (`Locator` semantics).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from ..core.errors import NotFound, ValidationFailed
from . import crs as crs_mod
from .geometry import from_geojson_geometry
from .locator import Locator
from .models import Level, Region


class OutsideDistrict(NotFound):
    """The point lies in no grid of the district (404: there is no region at this point)."""

    code = "outside_district"


@dataclass(frozen=True)
class RegionRef:
    """A region's code, name and level, as returned by a lookup."""

    code: str
    name: str
    level: str

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level}


@dataclass(frozen=True)
class LocateResult:
    """The grid, community/village, street and district covering a point (WGS-84 position kept)."""

    grid: RegionRef | None
    community: RegionRef | None
    street: RegionRef | None
    district: RegionRef | None
    lng: float
    lat: float
    crs_in: str = "wgs84"


class _Index:
    """One built locator with the names of every region, and the stamp of the data it was built from."""

    __slots__ = ("locator", "names", "stamp", "indexed_level")

    def __init__(self, stamp: tuple) -> None:
        self.stamp = stamp
        self.names = {code: (name, level) for code, name, level in Region.objects.values_list("code", "name", "level")}
        # Grids when there are any; a district that has loaded only community boundaries still answers.
        self.indexed_level = Level.GRID
        rows = list(Region.objects.filter(level=Level.GRID, geometry__isnull=False).values_list("code", "geometry"))
        if not rows:
            self.indexed_level = Level.COMMUNITY
            rows = list(Region.objects.filter(level__in=[Level.COMMUNITY, Level.VILLAGE], geometry__isnull=False)
                        .values_list("code", "geometry"))
        codes: list[str] = []
        polygons = []
        for code, geometry in rows:
            try:
                polygons.append(from_geojson_geometry(geometry))
            except ValueError:
                continue  # a stored boundary that does not parse cannot answer; imports refuse such data
            codes.append(code)
        self.locator = Locator(codes, polygons)

    def ref(self, code: str | None) -> RegionRef | None:
        if not code or code not in self.names:
            return None
        name, level = self.names[code]
        return RegionRef(code, name, level)


_lock = threading.Lock()
_index: _Index | None = None
_checked_at = 0.0


def recheck_seconds() -> float:
    """How long a process trusts its region-derived caches before reading the stamp again."""
    default = 0.0 if getattr(settings, "TESTING", False) else 2.0
    return float(getattr(settings, "CIVICGRID_LOCATOR_RECHECK_SECONDS", default))


def region_stamp() -> tuple:
    """What changes whenever any region is added, removed or saved (count, latest change, highest id)."""
    agg = Region.objects.aggregate(n=Count("id"), latest=Max("updated_at"), top=Max("id"))
    return agg["n"], agg["latest"], agg["top"]


def invalidate_locator() -> None:
    """Forget the index: the next lookup rebuilds it (services call this after committing boundaries)."""
    global _index, _checked_at
    with _lock:
        _index = None
        _checked_at = 0.0


def current_index() -> _Index:
    """The index for the data as it is now (rebuilt when the stamp moved)."""
    global _index, _checked_at
    with _lock:
        now = time.monotonic()
        if _index is not None and now - _checked_at < recheck_seconds():
            return _index
        stamp = region_stamp()
        if _index is None or _index.stamp != stamp:
            _index = _Index(stamp)
        _checked_at = now
        return _index


def crs_key(crs: str | None) -> str:
    """"WGS-84", "gcj_02", "BD09" … → "wgs84" | "gcj02" | "bd09"; ValidationFailed for anything else."""
    key = str(crs or "wgs84").strip().lower().replace("-", "").replace("_", "")
    if key not in crs_mod.SUPPORTED_CRS:
        raise ValidationFailed(f"不支持的坐标系 {str(crs)[:20]!r}，可用：wgs84、gcj02、bd09 / unsupported crs",
                               field="crs")
    return key


def _to_wgs84(lng: float, lat: float, crs: str) -> tuple[float, float]:
    crs = crs_key(crs)
    values = {}
    for name, value, bound in (("lng", lng, 180), ("lat", lat, 90)):  # the error names the coordinate at fault
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise ValidationFailed("经纬度须为数字 / lng and lat must be numbers", field=name) from None
        if not (math.isfinite(values[name]) and -bound <= values[name] <= bound):
            raise ValidationFailed(f"{'经度' if name == 'lng' else '纬度'}超出范围（±{bound}） / {name} out of range",
                                   field=name)
    lng, lat = values["lng"], values["lat"]
    return crs_mod.to_wgs84(lng, lat, crs) if crs != "wgs84" else (lng, lat)


def locate(lng: float, lat: float, crs: str = "wgs84") -> LocateResult:
    """The regions covering a point given in WGS-84, GCJ-02 or BD-09; `OutsideDistrict` when none does."""
    wlng, wlat = _to_wgs84(lng, lat, crs)
    index = current_index()
    code = index.locator.locate(wlng, wlat)
    if code is None:
        raise OutsideDistrict(
            f"该位置不在本区范围内（经度 {wlng:.6f}，纬度 {wlat:.6f}，WGS-84） / the point is outside the district "
            f"(longitude {wlng:.6f}, latitude {wlat:.6f}, WGS-84)"
        )
    unit_code = code[:12]
    return LocateResult(
        grid=index.ref(code) if index.indexed_level == Level.GRID else None,
        community=index.ref(unit_code),
        street=index.ref(code[:9]),
        district=index.ref(code[:6]),
        lng=wlng,
        lat=wlat,
        crs_in=crs_key(crs),
    )


def assign_many(lngs: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray, crs: str = "wgs84") -> np.ndarray:
    """Grid codes for many points at once (imports): an object array, None where a point is outside.

    Coordinates are converted from GCJ-02/BD-09 first when flagged; non-finite values give None.
    """
    x = np.asarray(lngs, dtype=np.float64).ravel()
    y = np.asarray(lats, dtype=np.float64).ravel()
    crs = crs_key(crs)
    if crs != "wgs84":
        x, y = crs_mod.to_wgs84_array(x, y, crs)
    return current_index().locator.locate_many(x, y)


# --- what a region holds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionSummary:
    """Counts in a region's subtree as one reader may see them, and for a grid the names of its grid workers."""

    grids: int
    households: int | None  # None: the reader does not see base data (no `people.view`)
    residents: int | None
    grid_workers: list[str]


def region_summary(region: Region, user) -> RegionSummary:
    """Grids, households and residents under a region that `user` may see (index range scans through the scoped
    read path, as the region page counts them), and a grid's grid workers.

    The caller has already fetched `region` through the scoped path; but a region seen for context (an ancestor
    of the reader's own area, or the whole tree a department sees) is no licence to count the people in it:
    only those the reader may view are counted, and without `people.view` there are no people counts at all.
    Names are the display names of the accounts holding the grid-worker role on that very grid.
    """
    from ..access.models import Grant
    from ..access.roles import Role
    from ..access.scope import has_capability, subtree_q
    from ..people.models import Household, Resident

    in_subtree = subtree_q("region_code", region.code)
    grids = Region.objects.visible_to(user, "view").filter(subtree_q("code", region.code), level=Level.GRID).count()
    workers: list[str] = []
    if region.level == Level.GRID:
        grants = (Grant.objects.active().filter(role=Role.GRID_WORKER, region=region, user__is_active=True)
                  .select_related("user").order_by("user__username"))
        workers = [g.user.label for g in grants]
    households = residents = None
    if has_capability(user, "people.view"):
        households = Household.objects.visible_to(user).filter(in_subtree).count()
        residents = Resident.objects.visible_to(user).filter(in_subtree).count()
    return RegionSummary(grids=grids, households=households, residents=residents, grid_workers=workers)
