"""Region use cases: load the code directory, store boundaries, create and number grids.

Every function here is a bulk operation (a district has ~1,200 regions): it writes with `bulk_create` /
`bulk_update` inside one transaction, records ONE summary audit entry and publishes ONE event, and asks the
process-wide locator (`selectors`) to rebuild after commit. `actor=None` means the system itself (loaders and
management commands run by an operator); a user actor needs the capability over every code touched.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from django.db import transaction
from django.utils import timezone
from shapely.geometry.base import BaseGeometry

from ..access.scope import scope_for
from ..audit import verbs
from ..audit.service import record
from ..core.errors import Conflict, PermissionDenied, ValidationFailed
from ..events.bus import publish
from . import geometry as geo
from .models import GridKind, Level, Region

# The demo district. Another district loads its own directory with `district_code`/`district_name`.
DISTRICT_CODE = "140213"
DISTRICT_NAME = "平城区"

TOPIC_CODES_LOADED = "regions.codes_loaded"
TOPIC_BOUNDARIES = "regions.boundaries_imported"
TOPIC_GRIDS_CREATED = "regions.grids_created"

_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = _EARTH_RADIUS_M * math.pi / 180.0
_BATCH = 500
# Fields a geometry change writes (bulk_update does not run auto_now, so updated_at is listed and set).
GEOMETRY_FIELDS = (
    "geometry", "min_lng", "min_lat", "max_lng", "max_lat", "centroid_lng", "centroid_lat", "area_m2",
    "is_demo_geometry", "geometry_source", "updated_at",
)


# --- permission ------------------------------------------------------------------------------------------


def require_capability(actor, capability: str, codes) -> None:
    """Refuse unless the actor (None = the system) holds `capability` over every code in `codes`."""
    if actor is None:
        return
    scope = scope_for(actor, capability)
    outside = sorted(c for c in set(codes) if not scope.covers_code(c))
    if outside:
        shown = "、".join(outside[:5]) + ("…" if len(outside) > 5 else "")
        raise PermissionDenied(f"无权修改这些区域：{shown} / not allowed for these regions")


def _after_commit_rebuild() -> None:
    # Imported lazily: selectors imports this module's neighbours, and the locator lives there.
    from . import selectors

    transaction.on_commit(selectors.invalidate_locator)


# --- the code directory ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryRow:
    """One region of the NBS code directory: our code, short name, level, parent code, 12-digit NBS code."""

    code: str
    name: str
    level: str
    parent_code: str | None
    nbs_code: str
    official_name: str = ""


def short_unit_name(official: str) -> str:
    """"康吉社区居民委员会" → "康吉社区", "新泉村村民委员会" → "新泉村": the area's name, not its committee's."""
    for suffix in ("居民委员会", "村民委员会", "居委会", "村委会"):
        if official.endswith(suffix) and len(official) > len(suffix):
            name = official[: -len(suffix)]
            # "田村村民委员会" → "田村"; a name left without 村/社区 gets its level word back.
            if suffix.startswith("村") and not name.endswith("村"):
                name += "村"
            return name
    return official


def read_code_directory(
    data_dir: str | Path | None = None, *, district_code: str = DISTRICT_CODE, district_name: str = DISTRICT_NAME
) -> list[DirectoryRow]:
    """The district, its streets and communities/villages from the NBS CSVs (district first, then by code)."""
    base = Path(data_dir) if data_dir is not None else geo.DATA_DIR
    rows = [DirectoryRow(district_code, district_name, Level.DISTRICT, None, district_code + "000000")]
    with (base / "streets_nbs.csv").open(encoding="utf-8-sig", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            code = (row.get("code") or "").strip()
            if len(code) != 9 or not code.isdigit() or not code.startswith(district_code):
                raise ValidationFailed(f"streets_nbs.csv 第 {line} 行：街道代码 {code!r} 不是本区的 9 位代码",
                                       field="code")
            nbs = (row.get("code12") or code + "000").strip()
            rows.append(DirectoryRow(code, row["name"].strip(), Level.STREET, district_code, nbs, row["name"].strip()))
    streets = {r.code for r in rows if r.level == Level.STREET}
    with (base / "communities_villages_nbs.csv").open(encoding="utf-8-sig", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            code = (row.get("code") or "").strip()
            parent = (row.get("streetCode") or code[:9]).strip()
            if len(code) != 12 or not code.isdigit() or parent not in streets or not code.startswith(parent):
                raise ValidationFailed(
                    f"communities_villages_nbs.csv 第 {line} 行：代码 {code!r} 或所属街道 {parent!r} 无效", field="code"
                )
            kind = (row.get("type") or "").strip()
            level = Level.VILLAGE if kind == "村委会" or (not kind and geo.is_village_code(code)) else Level.COMMUNITY
            official = row["name"].strip()
            rows.append(DirectoryRow(code, short_unit_name(official), level, parent, code, official))
    rows[1:] = sorted(rows[1:], key=lambda r: (len(r.code), r.code))
    return rows


@dataclass
class LoadResult:
    """What a bulk operation did: codes created and updated (and left alone)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@transaction.atomic
def load_region_codes(
    *, actor=None, data_dir: str | Path | None = None, district_code: str = DISTRICT_CODE,
    district_name: str = DISTRICT_NAME,
) -> LoadResult:
    """Create or rename the district, streets and communities/villages from the code directory (idempotent)."""
    rows = read_code_directory(data_dir, district_code=district_code, district_name=district_name)
    require_capability(actor, "regions.import", [district_code])
    existing = {r.code: r for r in Region.objects.filter(code__in=[row.code for row in rows]).defer("geometry")}
    result = LoadResult()
    now = timezone.now()
    to_update: list[Region] = []
    # Level by level, so that each parent exists (and has its id) before its children are created.
    for level_rows in _by_code_length(rows):
        new: list[Region] = []
        for row in level_rows:
            parent = existing.get(row.parent_code) if row.parent_code else None
            region = existing.get(row.code)
            if region is None:
                new.append(Region(code=row.code, name=row.name, level=row.level, parent=parent, nbs_code=row.nbs_code))
                continue
            if (region.name, region.level, region.nbs_code, region.parent_id) != (
                row.name, row.level, row.nbs_code, parent.pk if parent else None
            ):
                region.name, region.level, region.nbs_code, region.parent = row.name, row.level, row.nbs_code, parent
                region.updated_at = now
                to_update.append(region)
                result.updated.append(row.code)
            else:
                result.unchanged += 1
        for region in Region.objects.bulk_create(new, batch_size=_BATCH):
            existing[region.code] = region
            result.created.append(region.code)
    if to_update:
        Region.objects.bulk_update(to_update, ["name", "level", "nbs_code", "parent", "updated_at"], batch_size=_BATCH)
    if result.changed:
        counts = {level: sum(1 for r in rows if r.level == level) for level in (Level.STREET, Level.COMMUNITY, Level.VILLAGE)}
        record(actor=actor, action=verbs.Data.IMPORTED, target_type="regions.region", region_code=district_code,
               target_repr=f"{district_name}区划代码", data={"created": len(result.created),
                                                         "updated": len(result.updated), "levels": counts})
        publish(TOPIC_CODES_LOADED, region_code=district_code,
                payload={"created": len(result.created), "updated": len(result.updated)})
        _after_commit_rebuild()
    return result


def _by_code_length(rows: Sequence[DirectoryRow]) -> list[list[DirectoryRow]]:
    lengths = sorted({len(r.code) for r in rows})
    return [[r for r in rows if len(r.code) == n] for n in lengths]


# --- geometry --------------------------------------------------------------------------------------------


def equal_area_m2(geom: BaseGeometry) -> float:
    """Area in m² on the sphere, through the sinusoidal projection (equal-area; plain math, no pyproj)."""
    if geom is None or geom.is_empty:
        return 0.0

    def project(coords: np.ndarray) -> np.ndarray:
        # x = λ·cos φ, y = φ (in metres): the sinusoidal projection preserves area.
        return np.column_stack((coords[:, 0] * _M_PER_DEG * np.cos(np.radians(coords[:, 1])), coords[:, 1] * _M_PER_DEG))

    return float(shapely.transform(geom, project).area)


def label_point(geom: BaseGeometry) -> tuple[float, float]:
    """The centroid when it lies in the region, else a point on its surface: always inside (labels, tests)."""
    c = geom.centroid
    if not geom.covers(c):
        c = geom.representative_point()
    return round(c.x, geo.GEOJSON_PRECISION), round(c.y, geo.GEOJSON_PRECISION)


def geometry_fields(geom: BaseGeometry, *, source: str, is_demo: bool) -> dict:
    """The stored columns for one boundary: GeoJSON (7 decimals), bbox, label point, area, provenance."""
    data = geo.to_geojson_geometry(geom)
    minx, miny, maxx, maxy = geom.bounds
    cx, cy = label_point(geom)
    return {
        "geometry": data,
        "min_lng": minx, "min_lat": miny, "max_lng": maxx, "max_lat": maxy,
        "centroid_lng": cx, "centroid_lat": cy,
        "area_m2": round(equal_area_m2(geom), 1),
        "is_demo_geometry": is_demo,
        "geometry_source": source[:200],
    }


@transaction.atomic
def apply_geometry(
    geometries: Mapping[str, BaseGeometry], *, actor=None, source: str, is_demo: bool, only_missing: bool = False
) -> LoadResult:
    """Store boundaries by region code (all codes must exist); `only_missing` keeps boundaries already stored.

    Callers check boundaries first (`importers`, or the demo generator that cannot produce bad ones); this
    function only writes. Publishes `regions.boundaries_imported` with the codes' count and the source.
    """
    codes = sorted(geometries)
    require_capability(actor, "regions.import", codes)
    regions = {r.code: r for r in Region.objects.filter(code__in=codes).only("id", "code", "geometry")}
    unknown = [c for c in codes if c not in regions]
    if unknown:
        raise ValidationFailed(f"未知的区域代码：{'、'.join(unknown[:10])} / unknown region codes", field="code",
                               details=[{"code": c, "message": "未知的区域代码"} for c in unknown])
    now = timezone.now()
    result = LoadResult()
    changed: list[Region] = []
    for code in codes:
        region = regions[code]
        if only_missing and region.geometry:
            result.unchanged += 1
            continue
        for name, value in geometry_fields(geometries[code], source=source, is_demo=is_demo).items():
            setattr(region, name, value)
        region.updated_at = now
        changed.append(region)
        result.updated.append(code)
    if changed:
        Region.objects.bulk_update(changed, GEOMETRY_FIELDS, batch_size=_BATCH)
        top = min(result.updated, key=len)[:6]
        record(actor=actor, action=verbs.Data.CHANGED, target_type="regions.region", region_code=top,
               target_repr=f"区域边界 {len(changed)} 个", data={"boundaries": len(changed), "source": source,
                                                            "is_demo_geometry": is_demo, "codes": result.updated[:50]})
        publish(TOPIC_BOUNDARIES, region_code=top,
                payload={"count": len(changed), "source": source, "is_demo_geometry": is_demo})
        _after_commit_rebuild()
    return result


# --- grids -----------------------------------------------------------------------------------------------


def grid_name(unit_name: str, sequence: int, purpose: str = "") -> str:
    """"康吉社区第3网格", or "康吉社区第5网格（学校专属网格）" for a dedicated grid."""
    name = f"{unit_name}第{sequence}网格"
    return f"{name}（{purpose}专属网格）" if purpose else name


def stable_int(text: str) -> int:
    """A number derived from text, identical on every run and machine (Python's hash() is salted)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


@transaction.atomic
def create_grids(
    parcels: Mapping[str, Sequence[BaseGeometry]], *, actor=None, source: str, is_demo: bool,
    dedicated: Mapping[str, str] | None = None,
) -> list[Region]:
    """Create the grids of communities/villages that have none, numbered west→east, north→south.

    `parcels` maps a community/village code to its grid polygons in any order; grid codes are the unit code
    plus a 3-digit sequence (`geometry.grid_sequence_order`). `dedicated` maps a resulting grid code to the
    purpose of a 专属网格 (e.g. "学校"); the others are comprehensive. A unit that already has grids is refused
    (renumbering would change codes that base data and grants point to).
    """
    dedicated = dedicated or {}
    units = {r.code: r for r in Region.objects.filter(code__in=list(parcels)).defer("geometry")}
    bad = [c for c in parcels if c not in units or units[c].level not in (Level.COMMUNITY, Level.VILLAGE)]
    if bad:
        raise ValidationFailed(f"不是社区或村的代码：{'、'.join(sorted(bad)[:10])} / not community or village codes",
                               field="code")
    require_capability(actor, "regions.import", list(parcels))
    taken = set(Region.objects.filter(parent__code__in=list(parcels), level=Level.GRID)
                .values_list("parent__code", flat=True))
    if taken:
        raise Conflict(f"这些社区/村已有网格：{'、'.join(sorted(taken)[:10])} / these units already have grids")
    new: list[Region] = []
    for unit_code in sorted(parcels):
        unit = units[unit_code]
        polygons = list(parcels[unit_code])
        if not 1 <= len(polygons) <= 999:
            raise ValidationFailed(f"{unit.name} 的网格数须在 1–999 之间 / 1-999 grids per unit", field="grids")
        for seq, index in enumerate(geo.grid_sequence_order(polygons), start=1):
            code = f"{unit_code}{seq:03d}"
            purpose = dedicated.get(code, "")
            new.append(Region(
                code=code, name=grid_name(unit.name, seq, purpose), level=Level.GRID, parent=unit,
                grid_kind=GridKind.DEDICATED if purpose else GridKind.COMPREHENSIVE,
                **geometry_fields(polygons[index], source=source, is_demo=is_demo),
            ))
    created = Region.objects.bulk_create(new, batch_size=_BATCH)
    if created:
        top = min(parcels, key=len)[:6]
        record(actor=actor, action=verbs.Data.CREATED, target_type="regions.region", region_code=top,
               target_repr=f"网格 {len(created)} 个", data={"grids": len(created), "units": len(parcels),
                                                         "dedicated": sum(1 for g in created if g.grid_kind == GridKind.DEDICATED),
                                                         "source": source, "is_demo_geometry": is_demo})
        publish(TOPIC_GRIDS_CREATED, region_code=top, payload={"count": len(created), "units": len(parcels)})
        _after_commit_rebuild()
    return created


@dataclass(frozen=True)
class NewGrid:
    """A grid an import names by its full 15-digit code (its community/village must exist)."""

    code: str
    geometry: BaseGeometry
    name: str = ""
    kind: str = GridKind.COMPREHENSIVE


@transaction.atomic
def add_grids(grids: Sequence[NewGrid], *, actor=None, source: str, is_demo: bool) -> list[Region]:
    """Create grids under existing communities/villages by code (boundary imports bring new grids this way)."""
    codes = [g.code for g in grids]
    require_capability(actor, "regions.import", codes)
    units = {r.code: r for r in Region.objects.filter(code__in={c[:12] for c in codes},
                                                      level__in=[Level.COMMUNITY, Level.VILLAGE]).defer("geometry")}
    clash = set(Region.objects.filter(code__in=codes).values_list("code", flat=True))
    bad = sorted(c for c in codes if len(c) != 15 or not c.isdigit() or c[:12] not in units or c in clash)
    if bad or len(set(codes)) != len(codes):
        raise ValidationFailed(f"无法新建这些网格：{'、'.join(bad[:10]) or '编码重复'} / cannot create these grids",
                               field="code")
    new = [
        Region(code=g.code, name=(g.name or grid_name(units[g.code[:12]].name, int(g.code[12:])))[:64],
               level=Level.GRID, parent=units[g.code[:12]],
               grid_kind=g.kind if g.kind in GridKind.values else GridKind.COMPREHENSIVE,
               **geometry_fields(g.geometry, source=source, is_demo=is_demo))
        for g in sorted(grids, key=lambda g: g.code)
    ]
    created = Region.objects.bulk_create(new, batch_size=_BATCH)
    if created:
        top = min(codes)[:6]
        record(actor=actor, action=verbs.Data.CREATED, target_type="regions.region", region_code=top,
               target_repr=f"网格 {len(created)} 个", data={"grids": len(created), "codes": codes[:50], "source": source})
        publish(TOPIC_GRIDS_CREATED, region_code=top, payload={"count": len(created), "source": source})
        _after_commit_rebuild()
    return created
