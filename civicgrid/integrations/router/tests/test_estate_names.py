"""Estate names the district repeats (two 云冈苑 kilometres apart): the gazetteer does not place such a name at
the mean of all their buildings (a point between the estates, near none of them). Open311 answers a 400 naming
where the estate exists, the desk form proposes no point, and a street's or community's name before the estate's
locates the one there."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.people.models import Building
from civicgrid.integrations.open311.tests.conftest import (  # noqa: F401  (fixtures)
    GRID,
    POINT,
    _fresh_buckets,
    form,
    http,
    o311,
    post,
    spec_error,
    world_counts,
)
from civicgrid.integrations.router.gazetteer import (
    ESTATE_RADIUS_M,
    ambiguous_place,
    confident_place,
    find_place,
)
from civicgrid.ui.pages.cases_intake import propose_place

pytestmark = pytest.mark.django_db

FAR_GRID = "140213051002001"  # 古城街道古城社区2, about 8 km north-east of GRID
FAR_POINT = (113.2900, 40.0500)


def _estate(tree, grid_code: str, point: tuple[float, float], prefix: str, estate: str = "云冈苑") -> None:
    grid = tree[grid_code]
    for b in range(1, 4):  # three buildings some 50 m apart: one estate
        Building.objects.create(code=f"{grid_code}-{prefix}{b:02d}", address=f"平城区{prefix}路{b}号{estate}{b}号楼",
                                name=f"{estate}{b}号楼", estate=estate, grid=grid, region_code=grid.code,
                                lng=point[0] + b * 0.0005, lat=point[1])


def test_a_repeated_estate_name_is_no_place_but_names_where_it_exists(o311):  # noqa: F811
    _estate(o311.tree, GRID, POINT, "A")
    _estate(o311.tree, FAR_GRID, FAR_POINT, "B")
    assert [p for p in find_place("云冈苑2号楼") if p["kind"] == "estate"] == []
    assert confident_place("云冈苑2号楼") is None
    assert ambiguous_place("云冈苑2号楼") == [{"name": "云冈苑", "matched": "云冈苑",
                                             "areas": ["古城街道古城社区2", "永泰街道永泰社区1"]}]
    # the desk form proposes no point between them either
    assert propose_place({"address": "云冈苑2号楼", "title": "", "description": ""}) is None


def test_one_estate_is_still_a_place_and_a_community_picks_one_of_the_repeated(o311):  # noqa: F811
    _estate(o311.tree, GRID, POINT, "A")
    found = confident_place("云冈苑2号楼")
    assert found["kind"] == "estate" and found["grid_code"] == GRID and ambiguous_place("云冈苑") == []
    _estate(o311.tree, FAR_GRID, FAR_POINT, "B")
    for text in ("永泰社区1云冈苑2号楼", "永泰街道云冈苑2号楼"):
        found = confident_place(text)
        assert found["kind"] == "estate" and found["grid_code"] == GRID, text
        assert abs(found["lng"] - (POINT[0] + 0.001)) < 1e-6
    assert confident_place("古城街道云冈苑")["grid_code"] == FAR_GRID
    assert ESTATE_RADIUS_M <= 1000  # an estate, not a town


def test_open311_refuses_an_address_string_naming_a_repeated_estate(o311, http):  # noqa: F811
    _estate(o311.tree, GRID, POINT, "A")
    _estate(o311.tree, FAR_GRID, FAR_POINT, "B")
    before = world_counts()
    text = spec_error(post(http, "requests.json", form(o311, lat=None, long=None, address_string="云冈苑2号楼")),
                      400)
    assert "云冈苑" in text and "古城街道古城社区2" in text and "永泰街道永泰社区1" in text and "lat" in text
    assert world_counts() == before
    # naming the community locates the estate there, at its own buildings
    r = post(http, "requests.json", form(o311, lat=None, long=None, address_string="永泰社区1云冈苑2号楼"))
    assert r.status_code == 201, r.content
    case = Case.objects.get(number=r.json()[0]["service_request_id"])
    assert case.grid.code == GRID and abs(case.lng - (POINT[0] + 0.001)) < 1e-6
