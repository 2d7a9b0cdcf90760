"""Checks on imported region boundaries before they replace the stored ones.

``check_boundaries`` reads GeoJSON geometries keyed by region code and reports every problem it finds, with a
Chinese message first (shown to district staff) and an English one (logs, API). It never repairs anything; an
import is accepted only when the list is empty.

Structure is checked on the raw coordinates, before shapely sees them, because shapely silently closes open
rings. Later checks continue on a repaired copy of a bad geometry so that one import reports all its problems.
Areas are compared in square degrees (the stored WGS-84 coordinates) and reported in approximate square
metres.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

__all__ = ["KINDS", "Problem", "check_boundaries", "approx_area_m2"]

KINDS = (
    "malformed",
    "not_closed",
    "self_intersection",
    "unknown_code",
    "duplicate_code",
    "overlap",
    "gap",
    "outside_parent",
)
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
# Mean Earth radius; the m² figures are approximate (equirectangular at the shape's latitude).
_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = _EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True)
class Problem:
    """One problem found in an import: the region code, its kind (one of KINDS) and messages."""

    code: str
    kind: str
    message_zh: str
    message_en: str
    related: tuple[str, ...] = ()  # the other region(s) involved, e.g. the overlapping sibling or the parent
    area_m2: float | None = None


def approx_area_m2(geom: BaseGeometry) -> float:
    """Approximate area in m² of a WGS-84 geometry (degrees² scaled at its centroid latitude)."""
    if geom.is_empty:
        return 0.0
    lat = geom.centroid.y
    return geom.area * _M_PER_DEG * _M_PER_DEG * math.cos(math.radians(lat))


def _level(code: str) -> tuple[str, str]:
    if len(code) == 6:
        return "区", "District"
    if len(code) == 9:
        return "街道", "Street"
    if len(code) == 12:
        if code.isdigit() and 200 <= int(code[9:12]) <= 399:
            return "村", "Village"
        return "社区", "Community"
    if len(code) == 15:
        return "网格", "Grid"
    return "区域", "Region"


def _fmt_area(m2: float) -> tuple[str, str]:
    if m2 >= 10:
        return f"{m2:.0f}", f"{m2:,.0f}"
    return f"{m2:.1f}", f"{m2:.1f}"


# --- structure -------------------------------------------------------------------------------------------


class _Malformed(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _read_ring(ring: Any) -> tuple[list[tuple[float, float]], bool]:
    """Validated (lng, lat) positions of a raw ring and whether it was closed (the closing point is added)."""
    if not isinstance(ring, (list, tuple)):
        raise _Malformed("环不是坐标数组", "a ring is not an array of positions")
    points: list[tuple[float, float]] = []
    for pos in ring:
        if not isinstance(pos, (list, tuple)) or len(pos) < 2:
            raise _Malformed("坐标点不是 [经度, 纬度] 数组", "a position is not a [lng, lat] array")
        lng, lat = pos[0], pos[1]
        if not (_is_number(lng) and _is_number(lat)):
            raise _Malformed(f"坐标不是数字：{pos!r}", f"non-numeric coordinate: {pos!r}")
        lng, lat = float(lng), float(lat)
        if not (math.isfinite(lng) and math.isfinite(lat)):
            raise _Malformed(f"坐标不是有限数：{pos!r}", f"non-finite coordinate: {pos!r}")
        if not (-180.0 <= lng <= 180.0 and -90.0 <= lat <= 90.0):
            raise _Malformed(
                f"坐标超出 WGS-84 范围：{pos!r}", f"coordinate outside the WGS-84 range: {pos!r}"
            )
        points.append((lng, lat))
    closed = len(points) >= 2 and points[0] == points[-1]
    if not closed and points:
        points.append(points[0])
    if len(points) < 4:
        raise _Malformed(
            "环至少需要 4 个坐标点（首尾相同）", "a ring needs at least 4 positions (first = last)"
        )
    return points, closed


def _read_polygon(rings: Any) -> tuple[Polygon, bool]:
    if not isinstance(rings, (list, tuple)) or not rings:
        raise _Malformed("多边形没有环", "a polygon has no rings")
    read = [_read_ring(r) for r in rings]
    return Polygon(read[0][0], [r[0] for r in read[1:]]), all(r[1] for r in read)


def _parse(geometry: Any) -> tuple[BaseGeometry, bool]:
    """Shapely geometry from a raw GeoJSON geometry dict and whether all its rings were closed."""
    if isinstance(geometry, BaseGeometry):
        geometry = mapping(geometry)
    if not isinstance(geometry, Mapping):
        raise _Malformed("不是 GeoJSON 几何对象", "not a GeoJSON geometry object")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        return _read_polygon(coords)
    if kind == "MultiPolygon":
        if not isinstance(coords, (list, tuple)) or not coords:
            raise _Malformed("多面没有多边形", "a multipolygon has no polygons")
        read = [_read_polygon(p) for p in coords]
        return MultiPolygon([p for p, _ in read]), all(c for _, c in read)
    raise _Malformed(
        f"几何类型 {kind!r} 不是 Polygon 或 MultiPolygon",
        f"geometry type {kind!r} is not Polygon or MultiPolygon",
    )


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return shapely.union_all(parts) if parts else Polygon()


# --- the check -------------------------------------------------------------------------------------------


def check_boundaries(
    features: Mapping[str, Any] | Iterable[tuple[str, Any]],
    known: Mapping[str, str | None],
    parents: Mapping[str, BaseGeometry],
    *,
    abs_tolerance: float = 1e-9,
    rel_tolerance: float = 1e-4,
) -> list[Problem]:
    """Report every problem in ``features`` (code → GeoJSON geometry dict, or a list of (code, geometry) pairs).

    ``known`` maps each known code to its parent code; siblings are features with the same parent.
    ``parents`` gives parent geometries for the ``outside_parent`` and ``gap`` checks (a parent that is itself
    among the features is used from there when absent). An area problem is reported only when the area
    exceeds both ``abs_tolerance`` (degrees²; 1e-9 ≈ 9 m² here) and ``rel_tolerance`` times the reference
    area (the smaller sibling, the child, or the parent). Problems are sorted by code, then kind.
    """
    pairs = list(features.items()) if isinstance(features, Mapping) else [(c, g) for c, g in features]
    problems: list[Problem] = []

    def threshold(reference_area: float) -> float:
        return max(abs_tolerance, rel_tolerance * reference_area)

    counts = Counter(str(code) for code, _ in pairs)
    for code, n in counts.items():
        if n > 1:
            zh_level, en_level = _level(code)
            problems.append(
                Problem(
                    code,
                    "duplicate_code",
                    f"{zh_level}编码 {code} 重复出现 {n} 次",
                    f"{en_level} code {code} appears {n} times",
                )
            )

    usable: dict[str, BaseGeometry] = {}
    for raw_code, raw_geom in pairs:
        code = str(raw_code)
        if code in usable:
            continue  # a duplicate: its first occurrence is the one checked
        zh_level, en_level = _level(code)
        if code not in known:
            problems.append(
                Problem(
                    code,
                    "unknown_code",
                    f"编码 {code} 不在区划目录中",
                    f"code {code} is not in the region directory",
                )
            )
        try:
            geom, closed = _parse(raw_geom)
        except _Malformed as exc:
            problems.append(
                Problem(
                    code,
                    "malformed",
                    f"{zh_level} {code} 的边界格式错误：{exc.zh}",
                    f"{en_level} {code}: malformed boundary: {exc.en}",
                )
            )
            continue
        if not closed:
            problems.append(
                Problem(
                    code,
                    "not_closed",
                    f"{zh_level} {code} 的边界环未闭合（首点与末点不同）",
                    f"{en_level} {code}: a boundary ring is not closed (first position differs from last)",
                )
            )
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            problems.append(
                Problem(
                    code,
                    "self_intersection",
                    f"{zh_level} {code} 的边界无效（自相交）：{reason}",
                    f"{en_level} {code}: invalid boundary: {reason}",
                )
            )
            geom = _polygonal(shapely.make_valid(geom))
        if not geom.is_empty:
            usable[code] = geom

    problems.extend(_check_siblings(usable, known, threshold))
    problems.extend(_check_parents(usable, known, parents, threshold))
    problems.sort(key=lambda p: (p.code, _KIND_ORDER[p.kind], p.related))
    return problems


def _check_siblings(
    usable: dict[str, BaseGeometry], known: Mapping[str, str | None], threshold
) -> list[Problem]:
    """Overlaps between features with the same parent, found through an STRtree over all of them."""
    codes = [c for c in usable if c in known]
    if len(codes) < 2:
        return []
    geoms = np.empty(len(codes), dtype=object)
    geoms[:] = [usable[c] for c in codes]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    parent = np.array([known[c] or "" for c in codes], dtype=object)
    keep = (left < right) & (parent[left] == parent[right])
    left, right = left[keep], right[keep]
    if left.size == 0:
        return []
    shared = shapely.intersection(geoms[left], geoms[right])
    areas = shapely.area(shared)
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    problems = []
    for i, j, inter, area, ref in zip(left, right, shared, areas, smaller, strict=True):
        if area <= threshold(ref):
            continue
        a, b = sorted((codes[i], codes[j]))
        m2 = approx_area_m2(inter)
        zh_area, en_area = _fmt_area(m2)
        zh_level, en_level = _level(a)
        problems.append(
            Problem(
                a,
                "overlap",
                f"{zh_level} {a} 与 {b} 重叠约 {zh_area} 平方米",
                f"{en_level} {a} overlaps {b} by about {en_area} m²",
                related=(b,),
                area_m2=m2,
            )
        )
    return problems


def _check_parents(
    usable: dict[str, BaseGeometry],
    known: Mapping[str, str | None],
    parents: Mapping[str, BaseGeometry],
    threshold,
) -> list[Problem]:
    """Children beyond their parent, and parents their children do not cover."""
    children: dict[str, list[str]] = defaultdict(list)
    for code in usable:
        parent_code = known.get(code)
        if parent_code:
            children[parent_code].append(code)
    problems = []
    for parent_code in sorted(children):
        parent_geom = parents.get(parent_code)
        if parent_geom is None:
            parent_geom = usable.get(parent_code)
        if parent_geom is None or parent_geom.is_empty:
            continue
        if not parent_geom.is_valid:
            parent_geom = _polygonal(shapely.make_valid(parent_geom))
        p_zh, p_en = _level(parent_code)
        kids = sorted(children[parent_code])
        for code in kids:
            beyond = usable[code].difference(parent_geom)
            if beyond.area > threshold(usable[code].area):
                m2 = approx_area_m2(beyond)
                zh_area, en_area = _fmt_area(m2)
                zh_level, en_level = _level(code)
                problems.append(
                    Problem(
                        code,
                        "outside_parent",
                        f"{zh_level} {code} 超出上级{p_zh} {parent_code} 约 {zh_area} 平方米",
                        f"{en_level} {code} extends beyond its parent {p_en.lower()} {parent_code} by about {en_area} m²",
                        related=(parent_code,),
                        area_m2=m2,
                    )
                )
        uncovered = parent_geom.difference(shapely.union_all([usable[c] for c in kids]))
        if uncovered.area > threshold(parent_geom.area):
            m2 = approx_area_m2(uncovered)
            zh_area, en_area = _fmt_area(m2)
            problems.append(
                Problem(
                    parent_code,
                    "gap",
                    f"{p_zh} {parent_code} 的下级区域未完全覆盖，空隙约 {zh_area} 平方米",
                    f"the children of {p_en.lower()} {parent_code} leave a gap of about {en_area} m²",
                    related=tuple(kids),
                    area_m2=m2,
                )
            )
    return problems
