"""Boundary import checks: each problem kind is found on the right code, a clean set reports nothing."""

from __future__ import annotations

import copy
import math
import re

import pytest
import shapely
from shapely.affinity import translate
from shapely.geometry import box

from civicgrid.foundation.regions.boundary_check import KINDS, Problem, approx_area_m2, check_boundaries
from civicgrid.foundation.regions.geometry import to_geojson_geometry
from civicgrid.foundation.regions.tests import codes_of_length, demo_partition

UNIT = "140213050001"


def _demo_grids() -> tuple[dict[str, dict], dict[str, str], dict[str, shapely.Geometry]]:
    """Every demo grid as rounded GeoJSON, its parent unit, and the units' polygons."""
    partition = demo_partition()
    features = {c: to_geojson_geometry(partition[c]) for c in codes_of_length(partition, 15)}
    known = {c: c[:12] for c in features}
    parents = {u: partition[u] for u in codes_of_length(partition, 12)}
    return features, known, parents


def _unit_grids() -> tuple[dict[str, dict], dict[str, str], dict[str, shapely.Geometry]]:
    features, known, parents = _demo_grids()
    own = {c: g for c, g in features.items() if c.startswith(UNIT)}
    return own, {c: known[c] for c in own}, {UNIT: parents[UNIT]}


def _kinds(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.code, p.kind) for p in problems]


def _square(x: float, y: float, side: float = 0.001) -> dict:
    return to_geojson_geometry(box(x, y, x + side, y + side))


def test_the_whole_demo_district_is_clean_at_every_level():
    partition = demo_partition()
    features = {c: to_geojson_geometry(g) for c, g in partition.items() if len(c) > 6}
    known = {c: (c[:6] if len(c) == 9 else c[:-3]) for c in features}
    assert check_boundaries(features, known, {"140213": partition["140213"]}) == []
    grids, grid_parents, units = _demo_grids()
    assert check_boundaries(grids, grid_parents, units) == []
    assert check_boundaries(list(grids.items()), grid_parents, units) == []


@pytest.mark.parametrize(
    ("geometry", "detail"),
    [
        ({"type": "Point", "coordinates": [113.3, 40.1]}, "Point"),
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", "not a GeoJSON"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[113.3, 40.1], [113.31, "40.1"], [113.31, 40.11], [113.3, 40.1]]],
            },
            "non-numeric",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[113.3, 40.1], [113.31, True], [113.31, 40.11], [113.3, 40.1]]],
            },
            "non-numeric",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[113.3, 95.0], [113.31, 95.0], [113.31, 95.1], [113.3, 95.0]]],
            },
            "WGS-84 range",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[213.3, 40.0], [213.31, 40.0], [213.31, 40.1], [213.3, 40.0]]],
            },
            "WGS-84 range",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[113.3, math.nan], [113.31, 40.0], [113.31, 40.1], [113.3, 40.0]]],
            },
            "non-finite",
        ),
        ({"type": "Polygon", "coordinates": [[[113.3, 40.1], [113.31, 40.1], [113.3, 40.1]]]}, "at least 4"),
        ({"type": "Polygon", "coordinates": [[113.3, 40.1]]}, "position"),
        ({"type": "Polygon", "coordinates": []}, "no rings"),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "no rings"),
        ({"type": "Polygon"}, "no rings"),
    ],
)
def test_malformed_geometries_are_reported_on_their_code(geometry, detail):
    code = f"{UNIT}001"
    problems = check_boundaries({code: geometry}, {code: UNIT}, {})
    assert _kinds(problems) == [(code, "malformed")]
    assert detail in problems[0].message_en
    assert problems[0].message_zh.startswith(f"网格 {code} 的边界格式错误")


def test_an_open_ring_is_not_closed_but_otherwise_checked():
    code = f"{UNIT}001"
    ring = [[113.30, 40.10], [113.31, 40.10], [113.31, 40.11], [113.30, 40.11]]  # no closing position
    problems = check_boundaries({code: {"type": "Polygon", "coordinates": [ring]}}, {code: UNIT}, {})
    assert _kinds(problems) == [(code, "not_closed")]
    assert problems[0].message_zh == f"网格 {code} 的边界环未闭合（首点与末点不同）"
    # A closed ring is accepted, so the check really looks at the raw coordinates.
    closed = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    assert check_boundaries({code: closed}, {code: UNIT}, {}) == []


def test_an_open_hole_in_a_multipolygon_is_not_closed():
    code = f"{UNIT}002"
    shell = [[113.3, 40.1], [113.4, 40.1], [113.4, 40.2], [113.3, 40.2], [113.3, 40.1]]
    hole = [[113.32, 40.12], [113.33, 40.12], [113.33, 40.13]]
    problems = check_boundaries(
        {code: {"type": "MultiPolygon", "coordinates": [[shell, hole]]}}, {code: UNIT}, {}
    )
    assert _kinds(problems) == [(code, "not_closed")]


def test_a_bow_tie_is_a_self_intersection():
    code = f"{UNIT}003"
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[113.3, 40.1], [113.31, 40.11], [113.31, 40.1], [113.3, 40.11], [113.3, 40.1]]],
    }
    problems = check_boundaries({code: bow_tie}, {code: UNIT}, {})
    assert _kinds(problems) == [(code, "self_intersection")]
    assert "Self-intersection" in problems[0].message_en
    assert problems[0].message_zh.startswith(f"网格 {code} 的边界无效（自相交）")


def test_unknown_code_is_reported():
    problems = check_boundaries({"140213050001999": _square(113.3, 40.1)}, {}, {})
    assert _kinds(problems) == [("140213050001999", "unknown_code")]
    assert problems[0].message_zh == "编码 140213050001999 不在区划目录中"


def test_duplicate_code_in_a_list_is_reported_once_and_the_first_copy_is_checked():
    code = f"{UNIT}001"
    pairs = [
        (code, _square(113.30, 40.10)),
        (code, {"type": "Point", "coordinates": [0, 0]}),
        (code, _square(113.30, 40.10)),
    ]
    problems = check_boundaries(pairs, {code: UNIT}, {})
    assert _kinds(problems) == [(code, "duplicate_code")]
    assert problems[0].message_zh == f"网格编码 {code} 重复出现 3 次"
    twice = check_boundaries(
        [(code, _square(113.30, 40.10)), (code, _square(113.30, 40.10))], {code: UNIT}, {}
    )
    assert _kinds(twice) == [(code, "duplicate_code")]
    assert twice[0].message_en == f"Grid code {code} appears 2 times"


def test_overlapping_siblings_are_reported_with_both_codes_and_the_area():
    features, known, parents = _unit_grids()
    first, second = sorted(features)[:2]
    partition = demo_partition()
    # Grow the second grid into its neighbour: the overlap is the intersection with the first grid.
    grown = partition[second].buffer(0.0005, join_style="mitre")
    features[second] = to_geojson_geometry(grown)
    problems = [p for p in check_boundaries(features, known, parents) if p.kind == "overlap"]
    expected_overlap = grown.intersection(partition[first])
    assert expected_overlap.area > 1e-8
    mine = [p for p in problems if p.code == first and p.related == (second,)]
    assert len(mine) == 1
    assert mine[0].area_m2 == pytest.approx(approx_area_m2(expected_overlap), rel=0.01)
    assert re.fullmatch(rf"网格 {first} 与 {second} 重叠约 \d+ 平方米", mine[0].message_zh)
    assert mine[0].message_en.startswith(f"Grid {first} overlaps {second} by about ")
    # All overlap problems involve the grown grid; nothing else is blamed.
    assert all(second in (p.code, *p.related) for p in problems)


def test_overlap_between_grids_of_different_units_is_not_a_sibling_overlap():
    a, b = "140213050001001", "140213050002001"
    features = {a: _square(113.30, 40.10), b: _square(113.3005, 40.10)}
    problems = check_boundaries(features, {a: "140213050001", b: "140213050002"}, {})
    assert problems == []


def test_overlap_below_the_tolerance_is_ignored_and_tolerances_are_configurable():
    a, b = f"{UNIT}001", f"{UNIT}002"
    known = {a: UNIT, b: UNIT}
    sliver = {a: _square(113.30, 40.10), b: _square(113.3009999, 40.10)}  # 1e-7 x 1e-3 = 1e-10 deg²
    assert check_boundaries(sliver, known, {}) == []
    strict = check_boundaries(sliver, known, {}, abs_tolerance=1e-12, rel_tolerance=0)
    assert _kinds(strict) == [(a, "overlap")]
    wide = {a: _square(113.30, 40.10), b: _square(113.3005, 40.10)}  # half of each square
    assert _kinds(check_boundaries(wide, known, {})) == [(a, "overlap")]
    assert check_boundaries(wide, known, {}, abs_tolerance=1e-6) == []


def test_a_missing_grid_leaves_a_gap_in_its_unit():
    features, known, parents = _unit_grids()
    removed = sorted(features)[-1]
    hole_area = approx_area_m2(demo_partition()[removed])
    del features[removed]
    problems = check_boundaries(features, known, parents)
    assert _kinds(problems) == [(UNIT, "gap")]
    assert problems[0].area_m2 == pytest.approx(hole_area, rel=1e-3)
    assert problems[0].related == tuple(sorted(features))
    assert re.fullmatch(rf"社区 {UNIT} 的下级区域未完全覆盖，空隙约 \d+ 平方米", problems[0].message_zh)


def test_a_grid_moved_outside_its_unit_is_outside_parent():
    features, known, parents = _unit_grids()
    moved = sorted(features)[0]
    partition = demo_partition()
    features[moved] = to_geojson_geometry(translate(partition[moved], xoff=0.5))
    problems = check_boundaries(features, known, parents)
    assert (moved, "outside_parent") in _kinds(problems)
    assert (UNIT, "gap") in _kinds(problems)
    outside = next(p for p in problems if p.kind == "outside_parent")
    assert outside.related == (UNIT,)
    assert outside.area_m2 == pytest.approx(approx_area_m2(partition[moved]), rel=1e-3)
    assert outside.message_zh.startswith(f"网格 {moved} 超出上级社区 {UNIT} 约 ")


def test_parent_geometry_can_come_from_the_features_themselves():
    street, unit = "140213050", "140213050201"
    features = {street: _square(113.30, 40.10, 0.01), unit: _square(113.305, 40.105, 0.01)}
    problems = check_boundaries(features, {street: "140213", unit: street}, {})
    assert _kinds(problems) == [(street, "gap"), (unit, "outside_parent")]
    assert problems[1].message_zh.startswith(f"村 {unit} 超出上级街道 {street} 约 ")


def test_problems_come_sorted_by_code_then_kind_and_every_kind_is_known():
    features, known, parents = _unit_grids()
    codes = sorted(features)
    features = copy.deepcopy(features)
    features[codes[0]] = {"type": "Point", "coordinates": [0, 0]}
    features["140213050001999"] = _square(113.0, 40.0)
    problems = check_boundaries(features, known, parents)
    assert problems == sorted(problems, key=lambda p: (p.code, KINDS.index(p.kind), p.related))
    assert {p.kind for p in problems} <= set(KINDS)
    assert (codes[0], "malformed") in _kinds(problems)
    assert ("140213050001999", "unknown_code") in _kinds(problems)
    assert (UNIT, "gap") in _kinds(problems)  # the malformed grid no longer covers its part
