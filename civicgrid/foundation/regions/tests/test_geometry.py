"""Demo partition, grid numbering and GeoJSON helpers (pure geometry: no database)."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from civicgrid.foundation.regions.geometry import (
    DATA_DIR,
    PartitionTree,
    demo_grid_counts,
    from_geojson_geometry,
    generate_demo_partition,
    grid_sequence_order,
    is_village_code,
    load_demo_tree,
    load_outline,
    to_geojson_geometry,
)
from civicgrid.foundation.regions.tests import codes_of_length, demo_partition

REPO_ROOT = Path(__file__).resolve().parents[4]


def _csv_codes(name: str) -> set[str]:
    with (DATA_DIR / name).open(encoding="utf-8-sig", newline="") as fh:
        return {row["code"] for row in csv.DictReader(fh)}


def _assert_partition(parent: shapely.Geometry, children: list[shapely.Geometry], label: str) -> None:
    """Children cover the parent (1e-9 area) and pairwise overlap by no more than 1e-12."""
    union = shapely.union_all(children)
    assert union.symmetric_difference(parent).area < 1e-9, label
    geoms = np.array(children, dtype=object)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    overlaps = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert overlaps.size == 0 or overlaps.max() <= 1e-12, label


def _partition_digest(partition: dict[str, shapely.Geometry]) -> str:
    digest = hashlib.sha256()
    for code in sorted(partition):
        digest.update(code.encode())
        digest.update(shapely.to_wkb(partition[code]))
    return digest.hexdigest()


# --- the real district -----------------------------------------------------------------------------------


def test_demo_partition_has_every_nbs_code_and_one_grid_per_planned_sequence():
    partition = demo_partition()
    streets, units = _csv_codes("streets_nbs.csv"), _csv_codes("communities_villages_nbs.csv")
    assert (len(streets), len(units)) == (18, 202)
    assert codes_of_length(partition, 6) == ["140213"]
    assert set(codes_of_length(partition, 9)) == {s[:9] for s in streets}
    assert set(codes_of_length(partition, 12)) == units
    counts = demo_grid_counts(units)
    expected_grids = {f"{unit}{seq:03d}" for unit, n in counts.items() for seq in range(1, n + 1)}
    assert set(codes_of_length(partition, 15)) == expected_grids
    assert len(expected_grids) == 1000
    assert set(partition) == {"140213"} | {s[:9] for s in streets} | units | expected_grids


def test_every_code_is_a_prefix_of_its_descendants():
    partition = demo_partition()
    for code in partition:
        if len(code) > 6:
            assert code[: len(code) - 3] in partition


def test_demo_polygons_are_valid_single_polygons():
    partition = demo_partition()
    for code, geom in partition.items():
        assert geom.is_valid, code
        assert not geom.is_empty and geom.area > 0, code
        if len(code) > 6:
            assert isinstance(geom, Polygon), code


def test_streets_partition_the_outline_exactly():
    partition = demo_partition()
    outline = load_outline()
    assert partition["140213"].equals(outline)
    _assert_partition(outline, [partition[s] for s in codes_of_length(partition, 9)], "district")


def test_units_partition_their_street_and_grids_their_unit():
    partition = demo_partition()
    for street in codes_of_length(partition, 9):
        units = [partition[u] for u in codes_of_length(partition, 12) if u.startswith(street)]
        assert units, street
        _assert_partition(partition[street], units, street)
    for unit in codes_of_length(partition, 12):
        grids = [partition[g] for g in codes_of_length(partition, 15) if g.startswith(unit)]
        _assert_partition(partition[unit], grids, unit)


def test_grids_of_a_unit_have_equal_area_and_village_grids_are_three_times_larger():
    partition = demo_partition()
    grids = codes_of_length(partition, 15)
    for unit in codes_of_length(partition, 12):
        areas = [partition[g].area for g in grids if g.startswith(unit)]
        assert max(areas) / min(areas) < 1.01, unit
    urban = np.median([partition[g].area for g in grids if not is_village_code(g[:12])])
    rural = np.median([partition[g].area for g in grids if is_village_code(g[:12])])
    assert rural / urban == pytest.approx(3.0, rel=0.02)


def test_villages_lie_farther_from_the_district_centre_than_communities():
    partition = demo_partition()
    centre = partition["140213"].centroid
    units = codes_of_length(partition, 12)
    villages = [partition[u].centroid.distance(centre) for u in units if is_village_code(u)]
    communities = [partition[u].centroid.distance(centre) for u in units if not is_village_code(u)]
    assert np.mean(villages) > 1.2 * np.mean(communities)


def test_grid_codes_follow_the_numbering_order():
    partition = demo_partition()
    grids = codes_of_length(partition, 15)
    for unit in codes_of_length(partition, 12):
        own = [g for g in grids if g.startswith(unit)]
        assert grid_sequence_order([partition[g] for g in own]) == list(range(len(own))), unit
        # 001 is in the northern row: no grid of the unit has its centroid a full grid-height further north.
        first = partition[own[0]]
        height = first.bounds[3] - first.bounds[1]
        assert all(partition[g].centroid.y <= first.centroid.y + height / 2 for g in own), unit


def test_partition_is_deterministic_in_process_and_across_hash_seeds():
    first = demo_partition()
    again = generate_demo_partition(load_outline(), load_demo_tree())
    assert list(again) == list(first)
    assert all(shapely.to_wkb(again[c]) == shapely.to_wkb(first[c]) for c in first)
    script = (
        "import hashlib, shapely\n"
        "from civicgrid.foundation.regions.geometry import demo_partition_from_data\n"
        "p = demo_partition_from_data(); h = hashlib.sha256()\n"
        "for c in sorted(p): h.update(c.encode()); h.update(shapely.to_wkb(p[c]))\n"
        "print(h.hexdigest())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == _partition_digest(first)


# --- other shapes and trees ------------------------------------------------------------------------------

_SMALL_TREE = {
    "district_code": "140213",
    "streets": {
        "140213050": ["140213050001", "140213050002", "140213050201"],
        "140213051": ["140213051001", "140213051002", "140213051003", "140213051004"],
        "140213052": ["140213052001"],
    },
    "grid_counts": {
        "140213050001": 4,
        "140213050002": 1,
        "140213050201": 3,
        "140213051001": 5,
        "140213051002": 2,
        "140213051003": 3,
        "140213051004": 6,
        "140213052001": 7,
    },
}


@pytest.mark.parametrize(
    "outline",
    [
        Polygon([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]),  # U: cuts can split it
        box(0, 0, 4, 4).difference(box(1, 1, 3, 3)),  # a hole
        shapely.union_all([box(0, 0, 10, 1)] + [box(i * 2, 0, i * 2 + 1, 5) for i in range(5)]),  # a comb
        Point(113.3, 40.0).buffer(0.05, 64),
        MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)]),  # two islands: no street may straddle them
        box(0, 0, 10, 10).difference(box(0.5, 0.5, 9.5, 9.5)),  # a thin square ring
        # A spiral: every straight cut leaves fragments, so stray pieces must be handed across the cut.
        shapely.union_all(
            [box(0, 0, 10, 1), box(9, 0, 10, 10), box(0, 9, 10, 10), box(0, 2, 1, 10), box(0, 2, 7, 3)]
            + [box(6, 2, 7, 7), box(2, 6, 7, 7)]
        ),
    ],
    ids=["u-shape", "hole", "comb", "disc", "two-islands", "square-ring", "spiral"],
)
def test_partition_of_awkward_outlines_is_exact_and_valid(outline):
    partition = generate_demo_partition(outline, _SMALL_TREE)
    streets = _SMALL_TREE["streets"]
    assert len([c for c in partition if len(c) == 15]) == sum(_SMALL_TREE["grid_counts"].values())
    _assert_partition(outline, [partition[s] for s in streets], "district")
    for street, units in streets.items():
        _assert_partition(partition[street], [partition[u] for u in units], street)
        for unit in units:
            grids = [partition[f"{unit}{i:03d}"] for i in range(1, _SMALL_TREE["grid_counts"][unit] + 1)]
            _assert_partition(partition[unit], grids, unit)
    for code, geom in partition.items():
        assert geom.is_valid and geom.area > 0, code
    multi_part = [c for c, g in partition.items() if not isinstance(g, Polygon)]
    assert multi_part == ([] if isinstance(outline, Polygon) else ["140213"])


def test_a_tiny_exclave_joins_one_chain_of_regions():
    outline = MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1), box(5, 5, 5.001, 5.001)])
    partition = generate_demo_partition(outline, _SMALL_TREE)
    multi_part = sorted(c for c, g in partition.items() if not isinstance(g, Polygon))
    # The exclave is too small for a street of its own: exactly one street, unit and grid carry it.
    assert [len(c) for c in multi_part] == [6, 9, 12, 15]
    assert multi_part[2].startswith(multi_part[1]) and multi_part[3].startswith(multi_part[2])
    exclave = box(5, 5, 5.001, 5.001)
    assert all(partition[c].contains(exclave.centroid) for c in multi_part)


def test_missing_grid_counts_default_to_demo_counts():
    tree = {"streets": {"140213050": ["140213050001", "140213050201"]}}
    partition = generate_demo_partition(box(0, 0, 1, 1), tree)
    counts = demo_grid_counts(["140213050001", "140213050201"])
    assert len([c for c in partition if len(c) == 15]) == sum(counts.values())
    assert "140213" in partition


@pytest.mark.parametrize(
    "streets",
    [
        {"140214050": ["140214050001"]},  # street not under the district
        {"140213050": ["140213051001"]},  # unit not under its street
        {"140213050": ["14021305001"]},  # 11 digits
        {"140213050": ["140213050001"], "140213051": ["140213050001"]},  # unit twice
    ],
)
def test_inconsistent_trees_are_refused(streets):
    with pytest.raises(ValueError):
        generate_demo_partition(box(0, 0, 1, 1), PartitionTree("140213", streets, {}))


def test_given_grid_counts_win_over_demo_counts():
    tree = PartitionTree("140213", {"140213050": ("140213050001", "140213050002")}, {"140213050001": 11})
    partition = generate_demo_partition(box(0, 0, 1, 1), tree)
    grids = [c for c in partition if len(c) == 15]
    assert sorted(c for c in grids if c.startswith("140213050001")) == [
        f"140213050001{i:03d}" for i in range(1, 12)
    ]
    assert len(grids) == 11 + demo_grid_counts(["140213050002"])["140213050002"]


def test_grid_count_out_of_range_is_refused():
    tree = PartitionTree("140213", {"140213050": ("140213050001",)}, {"140213050001": 0})
    with pytest.raises(ValueError):
        generate_demo_partition(box(0, 0, 1, 1), tree)


# --- numbering, counts, GeoJSON --------------------------------------------------------------------------


def test_grid_sequence_order_reads_rows_west_to_east_then_north_to_south():
    # A 3x3 block given in scrambled order; row 0 is the northern one.
    cells = {(r, c): box(c, -r - 1, c + 1, -r) for r in range(3) for c in range(3)}
    scrambled = [(2, 1), (0, 2), (1, 0), (0, 0), (2, 2), (1, 2), (0, 1), (2, 0), (1, 1)]
    order = grid_sequence_order([cells[k] for k in scrambled])
    assert [scrambled[i] for i in order] == [(r, c) for r in range(3) for c in range(3)]


def test_grid_sequence_order_keeps_slightly_staggered_cells_in_one_row():
    row = [box(0, 0.1, 1, 1.1), box(1, 0, 2, 1), box(2, 0.2, 3, 1.2), box(0, -1, 3, 0)]
    assert grid_sequence_order(row) == [0, 1, 2, 3]
    assert grid_sequence_order([]) == []


def test_demo_grid_counts_are_deterministic_and_in_range():
    units = sorted(_csv_codes("communities_villages_nbs.csv"))
    counts = demo_grid_counts(units)
    assert counts == demo_grid_counts(reversed(units))
    for code, n in counts.items():
        assert (2 <= n <= 4) if is_village_code(code) else (3 <= n <= 8), code
    assert sum(1 for c in units if is_village_code(c)) == 47
    assert is_village_code("140213060201") and not is_village_code("140213060199")


def test_to_geojson_rounds_to_seven_decimals_as_lists():
    poly = Polygon([(113.123456789, 40.0), (113.2, 40.00000004), (113.2, 40.1)])
    data = to_geojson_geometry(poly)
    assert data == {
        "type": "Polygon",
        "coordinates": [[[113.1234568, 40.0], [113.2, 40.0], [113.2, 40.1], [113.1234568, 40.0]]],
    }
    multi = to_geojson_geometry(MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]))
    assert multi["type"] == "MultiPolygon" and len(multi["coordinates"]) == 2


def test_geojson_round_trip_keeps_the_demo_grids():
    partition = demo_partition()
    for code in codes_of_length(partition, 15)[:50]:
        back = from_geojson_geometry(to_geojson_geometry(partition[code]))
        assert back.is_valid
        # Moving each vertex by at most 0.5e-7 per axis changes the area by less than perimeter x 1e-7.
        assert back.symmetric_difference(partition[code]).area < partition[code].length * 1e-7


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"coordinates": []},
        {"type": "Polygon", "coordinates": "x"},
        {"type": "Nope", "coordinates": []},
    ],
)
def test_from_geojson_refuses_unreadable_input(bad):
    with pytest.raises(ValueError):
        from_geojson_geometry(bad)


def test_to_geojson_refuses_empty_geometry():
    with pytest.raises(ValueError):
        to_geojson_geometry(Polygon())
