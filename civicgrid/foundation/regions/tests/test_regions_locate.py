"""Where is this point? WGS-84/GCJ-02/BD-09 input, shared edges, outside the district, bulk assignment, and the
API contract `GET /api/v1/locate?lat=…&lng=…[&crs=…]`."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.regions import crs, selectors, services
from civicgrid.foundation.regions.models import Region
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db

GRID = "140213050001001"  # x 113.20–113.22, y 40.00–40.02 in the small tree
RIGHT = "140213050001002"  # x 113.22–113.24: shares the edge x = 113.22


@pytest.fixture
def client(tree, api_client, token_for):
    headers = token_for(user_with(Role.GRID_WORKER, region=tree[GRID]))

    def get(**params):
        return api_client.get("/api/v1/locate", params, **headers)

    return get


def test_locate_answers_grid_community_street_and_district(tree):
    found = selectors.locate(113.21, 40.01)
    assert found.grid.code == GRID and found.grid.name == "永泰社区1第1网格"
    assert (found.community.code, found.street.code, found.district.code) == ("140213050001", "140213050", "140213")
    assert (found.street.name, found.district.name) == ("永泰街道", "平城区")


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_a_grid_centroid_sent_in_a_chinese_system_comes_back_to_its_grid(tree, system):
    for code in ("140213050001001", "140213051002002"):
        grid = Region.objects.get(code=code)
        convert = crs.wgs84_to_gcj02 if system == "gcj02" else crs.wgs84_to_bd09
        lng, lat = convert(grid.centroid_lng, grid.centroid_lat)
        # The offset is hundreds of metres: read as WGS-84 the point would be elsewhere.
        assert abs(lng - grid.centroid_lng) + abs(lat - grid.centroid_lat) > 1e-3
        found = selectors.locate(lng, lat, crs=system)
        assert found.grid.code == code and found.crs_in == system
        assert found.lng == pytest.approx(grid.centroid_lng, abs=1e-7)


def test_points_on_shared_edges_and_corners_resolve_to_one_grid(tree):
    assert selectors.locate(113.22, 40.01).grid.code == GRID  # the edge between 001 and 002
    assert selectors.locate(113.22, 40.00).grid.code == GRID  # a corner on the outer edge
    assert selectors.locate(113.24, 40.01).grid.code == RIGHT  # an outer edge belongs to its only grid
    assert selectors.locate(113.22, 40.02).grid.code == GRID  # the corner of four cells (two in the tree)
    for _ in range(3):  # deterministic, whatever the call
        assert selectors.assign_many([113.22], [40.01])[0] == GRID


def test_outside_the_district_is_a_clear_error(tree):
    with pytest.raises(selectors.OutsideDistrict) as exc:
        selectors.locate(116.397, 39.908)  # Beijing
    assert "不在本区范围内" in exc.value.message and exc.value.status == 404


def test_assign_many_is_vectorised_and_marks_outside_points(tree):
    lngs = np.array([113.21, 113.23, 113.31, 116.4, np.nan])
    lats = np.array([40.01, 40.01, 40.01, 39.9, 40.0])
    codes = selectors.assign_many(lngs, lats)
    assert list(codes) == [GRID, RIGHT, "140213051001002", None, None]
    g_lng, g_lat = crs.wgs84_to_gcj02_array(lngs[:3], lats[:3])
    assert list(selectors.assign_many(g_lng, g_lat, crs="gcj02")) == list(codes[:3])


def test_the_locator_follows_boundary_changes(tree):
    assert selectors.locate(113.21, 40.01).grid.code == GRID
    services.apply_geometry({GRID: box(113.30, 40.10, 113.32, 40.12)}, source="测试", is_demo=False)
    selectors.invalidate_locator()  # on_commit does this in production; tests run inside one transaction
    assert selectors.locate(113.31, 40.11).grid.code == GRID
    with pytest.raises(selectors.OutsideDistrict):
        selectors.locate(113.21, 40.01)


def test_the_stamp_notices_changes_made_elsewhere(tree, settings):
    settings.CIVICGRID_LOCATOR_RECHECK_SECONDS = 0
    selectors.locate(113.21, 40.01)
    # Another process would change the table without telling this one: simulate with a plain update.
    moved = Region.objects.get(code=GRID)
    moved.geometry = {"type": "Polygon", "coordinates": [[[113.3, 40.1], [113.32, 40.1], [113.32, 40.12],
                                                          [113.3, 40.12], [113.3, 40.1]]]}
    moved.save()
    assert selectors.locate(113.31, 40.11).grid.code == GRID


def test_api_locate_contract(client):
    body = client(lat=40.01, lng=113.21).json()
    assert body["grid"] == {"code": GRID, "name": "永泰社区1第1网格", "level": "grid"}
    assert body["community"]["code"] == "140213050001" and body["street"]["name"] == "永泰街道"
    assert body["district"]["code"] == "140213" and body["crs_in"] == "wgs84"
    assert body["wgs84"] == [113.21, 40.01]
    lng, lat = crs.wgs84_to_gcj02(113.21, 40.01)
    gcj = client(lat=lat, lng=lng, crs="gcj02")
    assert gcj.status_code == 200 and gcj.json()["grid"]["code"] == GRID and gcj.json()["crs_in"] == "gcj02"
    assert gcj.json()["wgs84"] == pytest.approx([113.21, 40.01], abs=1e-6)


def test_api_locate_errors_are_json(client):
    outside = client(lat=39.908, lng=116.397)
    assert outside.status_code == 404
    assert outside.json()["code"] == "outside_district" and "不在本区范围内" in outside.json()["detail"]
    for params in ({"lat": "abc", "lng": 113.2}, {"lat": 95, "lng": 113.2}, {"lat": 40.0}, {"lat": "nan", "lng": 113.2},
                   {"lat": 40.0, "lng": 113.2, "crs": "epsg3857"}, {"lat": 40.0, "lng": 400}):
        resp = client(**params)
        assert resp.status_code == 422, params
        assert resp.json()["detail"] and resp.json()["errors"], params


def test_api_locate_needs_a_token(tree, api_client):
    resp = api_client.get("/api/v1/locate", {"lat": 40.01, "lng": 113.21})
    assert resp.status_code == 401 and "detail" in resp.json()
