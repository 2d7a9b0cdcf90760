"""WGS-84 / GCJ-02 / BD-09 conversions (pure functions: no database)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.foundation.regions import crs

# Strictly inside the GCJ-02 box, with room for the (< 0.01°) offset, so round trips never leave it.
china_lng = st.floats(min_value=73.0, max_value=135.0, allow_nan=False)
china_lat = st.floats(min_value=3.0, max_value=53.5, allow_nan=False)
TOLERANCE = 1e-6


def test_forward_transforms_match_the_published_reference_values():
    # Reference outputs of the widely used public formulas (wandergis/coordtransform, test/app.js).
    assert crs.wgs84_to_gcj02(116.404, 39.915) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )
    bd = crs.wgs84_to_bd09(*crs.gcj02_to_wgs84(116.404, 39.915))
    assert bd == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)


def test_offset_in_pingcheng_is_a_few_hundred_metres():
    lng, lat = 113.30, 40.08
    g_lng, g_lat = crs.wgs84_to_gcj02(lng, lat)
    assert 0.003 < g_lng - lng < 0.01 and 0.0005 < g_lat - lat < 0.003
    b_lng, b_lat = crs.wgs84_to_bd09(lng, lat)
    assert b_lng - g_lng == pytest.approx(0.0065, abs=0.001) and b_lat - g_lat == pytest.approx(
        0.006, abs=0.001
    )


def test_inverse_is_tighter_than_the_one_step_approximation():
    g = crs.wgs84_to_gcj02(113.30, 40.08)
    back = crs.gcj02_to_wgs84(*g)
    assert back == pytest.approx((113.30, 40.08), abs=1e-10)
    one_step = (2 * g[0] - crs.wgs84_to_gcj02(*g)[0], 2 * g[1] - crs.wgs84_to_gcj02(*g)[1])
    assert abs(one_step[0] - 113.30) > 1e-8  # the naive inverse really is worse, so iterating matters


@settings(max_examples=300, deadline=None)
@given(china_lng, china_lat)
def test_gcj02_round_trips_within_a_micro_degree(lng, lat):
    assert crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lng, lat)) == pytest.approx((lng, lat), abs=TOLERANCE)
    assert crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(lng, lat)) == pytest.approx((lng, lat), abs=TOLERANCE)


@settings(max_examples=300, deadline=None)
@given(china_lng, china_lat)
def test_bd09_round_trips_within_a_micro_degree(lng, lat):
    assert crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lng, lat)) == pytest.approx((lng, lat), abs=TOLERANCE)
    assert crs.wgs84_to_bd09(*crs.bd09_to_wgs84(lng, lat)) == pytest.approx((lng, lat), abs=TOLERANCE)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(china_lng, china_lat), min_size=1, max_size=40))
def test_array_versions_agree_with_scalar_versions(points):
    lng = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    pairs = [
        (crs.wgs84_to_gcj02_array, crs.wgs84_to_gcj02),
        (crs.gcj02_to_wgs84_array, crs.gcj02_to_wgs84),
        (crs.wgs84_to_bd09_array, crs.wgs84_to_bd09),
        (crs.bd09_to_wgs84_array, crs.bd09_to_wgs84),
    ]
    for vectorised, scalar in pairs:
        out_lng, out_lat = vectorised(lng, lat)
        expected = np.array([scalar(a, b) for a, b in points])
        np.testing.assert_allclose(out_lng, expected[:, 0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(out_lat, expected[:, 1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("point", [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9), (140.0, 36.0)])
def test_gcj02_is_wgs84_outside_china(point):
    assert crs.wgs84_to_gcj02(*point) == point
    assert crs.gcj02_to_wgs84(*point) == point
    lng, lat = crs.gcj02_to_wgs84_array(np.array([point[0]]), np.array([point[1]]))
    assert (lng[0], lat[0]) == point
    assert not crs.in_china(*point)


def test_array_handles_mixed_inside_and_outside_points():
    lng, lat = np.array([2.35, 113.3]), np.array([48.85, 40.08])
    g_lng, g_lat = crs.wgs84_to_gcj02_array(lng, lat)
    assert (g_lng[0], g_lat[0]) == (2.35, 48.85)
    assert (g_lng[1], g_lat[1]) == crs.wgs84_to_gcj02(113.3, 40.08)
    back = crs.gcj02_to_wgs84_array(g_lng, g_lat)
    np.testing.assert_allclose(np.stack(back), np.stack([lng, lat]), atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wgs84", (113.3, 40.08)),
        ("WGS-84", (113.3, 40.08)),
        ("gcj02", crs.gcj02_to_wgs84(113.3, 40.08)),
        ("GCJ-02", crs.gcj02_to_wgs84(113.3, 40.08)),
        ("bd09", crs.bd09_to_wgs84(113.3, 40.08)),
    ],
)
def test_to_wgs84_dispatches_on_the_named_system(name, expected):
    assert crs.to_wgs84(113.3, 40.08, name) == expected
    lng, lat = crs.to_wgs84_array([113.3], [40.08], name)
    assert (lng[0], lat[0]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", ["epsg:4326", "cgcs2000", "", "gcj"])
def test_unknown_coordinate_system_is_refused(name):
    with pytest.raises(ValueError, match="unknown coordinate system"):
        crs.to_wgs84(113.3, 40.08, name)
    with pytest.raises(ValueError):
        crs.to_wgs84_array([113.3], [40.08], name)


def test_array_shapes_must_match():
    with pytest.raises(ValueError):
        crs.wgs84_to_gcj02_array([1.0, 2.0], [1.0])
