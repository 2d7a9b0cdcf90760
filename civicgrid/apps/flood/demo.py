"""Demo flood season: seasons for 2023 and this year, one synthetic rain gauge per street (marked 演示), a week
of duty rosters for each street, the default thresholds, response rules and task templates. No signal is raised:
the demo starts quiet. Idempotent: a second run writes nothing."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.regions.models import Level as RegionLevel
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.regions.selectors import OutsideDistrict, locate

from . import rules
from .models import DutyRoster, FloodSeason, Station, StationKind, default_season_bounds
from .services import config

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN = ["建国", "海燕", "志强", "丽娟", "晓明", "文斌", "秀英", "国华", "春梅", "永刚", "桂兰", "振华", "红霞", "德胜"]


def _name(i: int) -> str:
    return _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i * 7) % len(_GIVEN)]


def _gauge_point(street: Region) -> tuple[Region, float, float] | None:
    """A point of the street that lies in one of its grids (the street centroid when it does)."""
    candidates = [(street.centroid_lng, street.centroid_lat)]
    candidates += list(Region.objects.filter(code__startswith=street.code, level=RegionLevel.GRID,
                                             centroid_lng__isnull=False)
                       .order_by("code").values_list("centroid_lng", "centroid_lat")[:20])
    for lng, lat in candidates:
        if lng is None or lat is None:
            continue
        try:
            found = locate(lng, lat)
        except (OutsideDistrict, Exception):
            continue
        unit = found.grid or found.community
        if unit and found.street and found.street.code == street.code:
            return Region.objects.get(code=unit.code), lng, lat
    return None


def load_demo_flood() -> str:
    with transaction.atomic():
        written = rules.ensure_defaults(recheck=True)
        seasons = 0
        for year in sorted({2023, timezone.localdate().year}):
            if not FloodSeason.objects.filter(year=year).exists():
                opens, closes = default_season_bounds(year)
                config.set_season(actor=None, year=year, opens_at=opens, closes_at=closes, note="默认汛期")
                seasons += 1
        gauges = rosters = 0
        streets = list(Region.objects.filter(level=RegionLevel.STREET).order_by("code"))
        today = timezone.localdate()
        for n, street in enumerate(streets, start=1):
            code = f"YL{street.code[-3:]}"
            if not Station.objects.filter(code=code).exists():
                point = _gauge_point(street)
                if point is not None:
                    grid, lng, lat = point
                    Station.objects.create(code=code, name=f"{street.name}雨量站（演示）", kind=StationKind.RAIN,
                                           lng=lng, lat=lat, grid=grid, region_code=grid.code,
                                           street_code=street.code, is_synthetic=True)
                    gauges += 1
            for d in range(7):
                day = today + timedelta(days=d)
                if DutyRoster.objects.filter(region_code=street.code, duty_date=day).exists():
                    continue
                for k, (post, leader) in enumerate((("带班领导", True), ("值班员", False))):
                    seq = n * 100 + d * 2 + k
                    row = config.add_roster(actor=None, street_code=street.code, duty_date=day,
                                            person=f"{_name(seq)}（演示）", post=post,
                                            phone=f"139{seq:08d}"[:11], is_leader=leader)
                    DutyRoster.objects.filter(pk=row.pk).update(is_synthetic=True)
                    rosters += 1
    if not (written or seasons or gauges or rosters):
        return "已存在，未改动"
    return (f"汛期 {seasons} 个，演示雨量站 {gauges} 个，值班安排 {rosters} 条，默认阈值/规则/任务模板 {written} 条；"
            "当前无预警")
