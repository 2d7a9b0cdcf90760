"""Point → grid lookup: covered-by semantics, smallest-code tie-break, bulk = single (no database)."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from civicgrid.foundation.regions.locator import Locator
from civicgrid.foundation.regions.tests import codes_of_length, demo_partition


@functools.cache
def _grids() -> tuple[list[str], np.ndarray]:
    partition = demo_partition()
    codes = codes_of_length(partition, 15)
    polygons = np.empty(len(codes), dtype=object)
    polygons[:] = [partition[c] for c in codes]
    return codes, polygons


@functools.cache
def _locators() -> tuple[Locator, Locator]:
    """The same grids with and without the bulk raster (the raster is built up front)."""
    codes, polygons = _grids()
    # Reversed input order: the tie-break must not depend on the order grids were given in.
    return Locator(codes[::-1], list(polygons[::-1])).warm(), Locator(codes, list(polygons), raster=False)


def _brute_force(lng: float, lat: float) -> str | None:
    """Smallest code among all grids covering the point, by testing every grid."""
    codes, polygons = _grids()
    covering = np.flatnonzero(shapely.covers(polygons, shapely.points(lng, lat)))
    return codes[covering.min()] if covering.size else None


@functools.cache
def _vertices() -> np.ndarray:
    return np.unique(shapely.get_coordinates(_grids()[1]), axis=0)


@functools.cache
def _edge_points() -> np.ndarray:
    """Points exactly on shared vertical/horizontal edges: a cut coordinate with the other one inside the edge."""
    coords = []
    for poly in _grids()[1]:
        ring = np.asarray(poly.exterior.coords)
        for (x1, y1), (x2, y2) in zip(ring[:-1], ring[1:], strict=True):
            if x1 == x2 and y1 != y2:
                coords.append((x1, y1 + (y2 - y1) * 0.37))
            elif y1 == y2 and x1 != x2:
                coords.append((x1 + (x2 - x1) * 0.61, y1))
    return np.array(coords)


# --- small hand-made cases -------------------------------------------------------------------------------


def test_shared_edge_and_vertex_go_to_the_smallest_code():
    squares = {
        "140213050001002": box(1, 1, 2, 2),
        "140213050001001": box(0, 1, 1, 2),
        "140213050001004": box(1, 0, 2, 1),
        "140213050001003": box(0, 0, 1, 1),
    }
    locator = Locator.from_mapping(squares)
    assert locator.locate(0.5, 1.5) == "140213050001001"
    assert locator.locate(1.5, 0.5) == "140213050001004"
    assert locator.locate(1.0, 1.0) == "140213050001001"  # the vertex all four share
    assert locator.locate(1.0, 0.5) == "140213050001003"  # edge between 003 and 004
    assert locator.locate(1.5, 1.0) == "140213050001002"  # edge between 002 and 004
    assert locator.locate(2.0, 0.0) == "140213050001004"  # an outer corner belongs to its only grid
    assert locator.locate(2.0000001, 0.5) is None
    assert locator.locate(float("nan"), 0.5) is None


def test_overlapping_grids_resolve_to_the_smallest_code_in_bulk_and_single():
    locator = Locator(["140213050001009", "140213050001002"], [box(0, 0, 2, 2), box(1, 1, 3, 3)]).warm()
    assert locator.locate(1.5, 1.5) == "140213050001002"
    assert locator.locate(0.5, 0.5) == "140213050001009"
    assert list(locator.locate_many([1.5, 0.5, 2.5, 9.0], [1.5, 0.5, 2.5, 9.0])) == [
        "140213050001002",
        "140213050001009",
        "140213050001002",
        None,
    ]


def test_a_point_in_a_hole_is_not_in_the_grid():
    ring = box(0, 0, 4, 4).difference(box(1, 1, 3, 3))
    locator = Locator(["140213050001001", "140213050001002"], [ring, box(1, 1, 3, 3)]).warm()
    assert locator.locate(2, 2) == "140213050001002"
    assert locator.locate(1, 2) == "140213050001001"  # on the hole's edge: both cover it, 001 is smaller
    assert list(locator.locate_many([2, 1, 0.5], [2, 2, 0.5])) == [
        "140213050001002",
        "140213050001001",
        "140213050001001",
    ]


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        Locator(["a", "b"], [box(0, 0, 1, 1)])
    with pytest.raises(ValueError):
        Locator(["a", "a"], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    with pytest.raises(ValueError):
        Locator(["a"], [box(0, 0, 1, 1)]).locate_many([1.0, 2.0], [1.0])


def test_empty_inputs():
    assert Locator([], []).locate(1, 1) is None
    assert Locator([], []).locate_many([1.0], [1.0]).tolist() == [None]
    assert Locator(["a"], [box(0, 0, 1, 1)]).locate_many([], []).shape == (0,)


# --- the demo district -----------------------------------------------------------------------------------


def test_every_grid_vertex_and_shared_edge_point_is_found_with_the_smallest_covering_code():
    with_raster, exact_only = _locators()
    points = np.vstack([_vertices(), _edge_points()])
    expected = [_brute_force(x, y) for x, y in points]
    assert None not in expected
    assert [with_raster.locate(x, y) for x, y in points] == expected
    assert with_raster.locate_many(points[:, 0], points[:, 1]).tolist() == expected
    assert exact_only.locate_many(points[:, 0], points[:, 1]).tolist() == expected


def test_bulk_answers_equal_single_answers_on_a_million_scale_sample():
    with_raster, exact_only = _locators()
    rng = np.random.default_rng(20260701)
    minx, miny, maxx, maxy = shapely.total_bounds(_grids()[1])
    n = 60_000  # above the raster threshold, so the first call on a cold locator would build it too
    x = rng.uniform(minx - 0.01, maxx + 0.01, n)
    y = rng.uniform(miny - 0.01, maxy + 0.01, n)
    bulk = with_raster.locate_many(x, y)
    assert bulk.tolist() == exact_only.locate_many(x, y).tolist()
    sample = rng.choice(n, 3000, replace=False)
    assert [with_raster.locate(x[i], y[i]) for i in sample] == bulk[sample].tolist()
    assert 0.3 < np.mean(bulk != None) < 0.9  # noqa: E711 - elementwise comparison on an object array


def test_points_outside_the_district_and_non_finite_points_find_nothing():
    with_raster, _ = _locators()
    lngs = np.array([0.0, 113.0, 113.5, np.nan, np.inf, 113.3])
    lats = np.array([0.0, 40.0, 40.0, 40.0, 40.0, -np.inf])
    assert with_raster.locate_many(lngs, lats).tolist() == [None] * 6


def test_pickle_round_trip_gives_the_same_answers():
    with_raster, _ = _locators()
    clone = pickle.loads(pickle.dumps(with_raster))
    points = _vertices()[::7]
    assert clone.codes == with_raster.codes
    assert (
        clone.locate_many(points[:, 0], points[:, 1]).tolist()
        == with_raster.locate_many(points[:, 0], points[:, 1]).tolist()
    )


@st.composite
def _district_points(draw):
    """Random points, grid vertices, and points exactly on shared edges, mixed."""
    kind = draw(st.sampled_from(["random", "vertex", "edge"]))
    if kind == "vertex":
        vertices = _vertices()
        return tuple(vertices[draw(st.integers(0, len(vertices) - 1))])
    if kind == "edge":
        edges = _edge_points()
        return tuple(edges[draw(st.integers(0, len(edges) - 1))])
    minx, miny, maxx, maxy = shapely.total_bounds(_grids()[1])
    return (draw(st.floats(minx - 0.005, maxx + 0.005)), draw(st.floats(miny - 0.005, maxy + 0.005)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_district_points(), min_size=1, max_size=50))
def test_locate_many_equals_locate_and_brute_force(points):
    with_raster, exact_only = _locators()
    lngs = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    expected = [_brute_force(x, y) for x, y in points]
    assert [exact_only.locate(x, y) for x, y in points] == expected
    assert with_raster.locate_many(lngs, lats).tolist() == expected
    assert exact_only.locate_many(lngs, lats).tolist() == expected


@st.composite
def _random_layout(draw, min_side: int = 1):
    """A few random, possibly overlapping rectangles and triangles on a 1/4 lattice, and probe points."""
    polys = []
    for _ in range(draw(st.integers(1, 6))):
        x, y = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        w, h = draw(st.integers(min_side, 20)), draw(st.integers(min_side, 20))
        shape = box(x / 4, y / 4, (x + w) / 4, (y + h) / 4)
        if draw(st.booleans()):
            shape = Polygon([(x / 4, y / 4), ((x + w) / 4, y / 4), (x / 4, (y + h) / 4)])
        polys.append(shape)
    probes = draw(st.lists(st.tuples(st.integers(-4, 260), st.integers(-4, 260)), min_size=1, max_size=60))
    return polys, [(a / 16, b / 16) for a, b in probes]


@settings(max_examples=80, deadline=None)
@given(_random_layout())
def test_raster_answers_equal_exact_answers_on_random_layouts(layout):
    polys, probes = layout
    codes = [f"140213050001{i:03d}" for i in range(len(polys))]
    fast = Locator(codes, polys).warm()
    lngs = np.array([p[0] for p in probes])
    lats = np.array([p[1] for p in probes])
    expected = []
    for x, y in probes:
        covering = [c for c, p in zip(codes, polys, strict=True) if p.covers(shapely.points(x, y))]
        expected.append(min(covering) if covering else None)
    assert fast.locate_many(lngs, lats).tolist() == expected
    assert [fast.locate(x, y) for x, y in probes] == expected


def _assert_raster_sound(locator: Locator, polygons) -> None:
    """White-box check of the raster's invariant: no grid boundary comes within 1e-9 of a cell it trusts."""
    raster = locator._raster
    assert raster is not None
    trusted = np.flatnonzero(raster.table != -2)
    ix, iy = trusted % raster.nx, trusted // raster.nx
    margin = 1e-9
    cells = shapely.box(
        raster.minx + ix * raster.cell - margin,
        raster.miny + iy * raster.cell - margin,
        raster.minx + (ix + 1) * raster.cell + margin,
        raster.miny + (iy + 1) * raster.cell + margin,
    )
    boundaries = shapely.boundary(np.asarray(polygons, dtype=object))
    hits, _ = shapely.STRtree(boundaries).query(cells, predicate="intersects")
    assert hits.size == 0, f"{hits.size} trusted cells touch a boundary"
    # And each trusted cell's label is the exact answer at its centre.
    centres = shapely.centroid(cells[:: max(1, len(cells) // 5000)])
    labels = raster.table[trusted[:: max(1, len(cells) // 5000)]]
    xs, ys = shapely.get_x(centres), shapely.get_y(centres)
    codes = locator.codes
    assert [codes[i] if i >= 0 else None for i in labels] == [
        locator.locate(x, y) for x, y in zip(xs, ys, strict=True)
    ]


def test_demo_raster_trusts_only_cells_no_boundary_comes_near():
    with_raster, _ = _locators()
    _assert_raster_sound(with_raster, _grids()[1])
    assert np.mean(with_raster._raster.table == -2) < 0.2  # most cells answer without a geometry test


@settings(max_examples=25, deadline=None)
@given(_random_layout(min_side=5))  # larger shapes keep the raster (and this check) small
def test_random_layout_rasters_trust_only_cells_no_boundary_comes_near(layout):
    polys, _ = layout
    locator = Locator([f"{i:03d}" for i in range(len(polys))], polys).warm()
    _assert_raster_sound(locator, polys)


def test_single_lookups_build_the_raster_and_keep_their_answers():
    """A locator answering many single points builds the raster, and its answers stay the exact ones: inside
    cells, on shared edges and vertices, outside, and for coordinates that are not finite."""
    from civicgrid.foundation.regions import locator as locator_mod

    codes, polygons = _grids()
    cold = Locator(codes, list(polygons))
    _, exact_only = _locators()
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    rng = np.random.default_rng(7)
    n = locator_mod._RASTER_AFTER_LOOKUPS + 500
    points = list(zip(rng.uniform(minx - 0.01, maxx + 0.01, n).tolist(), rng.uniform(miny - 0.01, maxy + 0.01, n).tolist(),
                      strict=True))
    vertices = shapely.get_coordinates(shapely.get_exterior_ring(polygons[:40]))
    points += [(float(x), float(y)) for x, y in vertices]  # on edges and corners shared by neighbours
    points += [(float("nan"), miny), (minx, float("inf")), (minx - 1, miny - 1)]
    answers = [cold.locate(x, y) for x, y in points]
    assert cold._raster is not None  # built on the way
    assert answers == [exact_only.locate(x, y) for x, y in points]
    assert sum(a is not None for a in answers) > n // 2
    assert [cold.locate(x, y) for x, y in points] == answers  # now from the raster, or the tree where it is mixed
