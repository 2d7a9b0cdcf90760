"""Place from text: regions with their short names, base-data places and buildings, built-in landmarks;
longest match wins; unknown text finds nothing; the grid is proposed from the coordinates."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.tests.conftest import GRID, POINT, auth
from civicgrid.foundation.people.models import Building, Place
from civicgrid.integrations.router import find_place
from civicgrid.integrations.router.gazetteer import Entry, Gazetteer, aliases

pytestmark = pytest.mark.django_db


def test_region_names_and_their_short_forms(tree):
    assert aliases("铁牛里社区") == {"铁牛里社区", "铁牛里"}
    assert "某某" in aliases("某某村民委员会")
    found = find_place("古城街道办事处门口井盖丢失")
    assert found[0]["name"] == "古城街道" and found[0]["kind"] == "street"
    assert found[0]["grid_code"].startswith("140213051")  # proposed from the street's centroid
    assert find_place("永泰这边路灯坏了")[0]["name"] == "永泰街道"


def test_longest_match_wins(tree):
    # "古城" (short for 古城街道) and the landmark "古城墙" both start here: the longer name wins.
    found = find_place("古城墙下面堆了很多垃圾")
    assert found[0]["name"] == "古城墙" and found[0]["kind"] == "landmark" and found[0]["approximate"] is True
    assert all(r["name"] != "古城街道" for r in found)
    assert find_place("御河西路有坑")[0]["name"] == "御河西路"  # not 御河


def test_places_and_buildings_from_base_data(tree):
    grid = tree[GRID]
    Place.objects.create(name="永泰公园", kind="park", grid=grid, region_code=grid.code, lng=POINT[0], lat=POINT[1])
    Building.objects.create(code="B1", address="永泰街道幸福里小区13号楼", name="13号楼", estate="幸福里小区",
                            grid=grid, region_code=grid.code, lng=POINT[0], lat=POINT[1])
    found = find_place("永泰公园东门路灯不亮")
    assert found[0]["name"] == "永泰公园" and found[0]["kind"] == "place" and found[0]["grid_code"] == GRID
    found = find_place("永泰街道幸福里小区13号楼化粪池满溢")
    assert found[0]["kind"] == "building" and found[0]["grid_code"] == GRID
    found = find_place("幸福里小区门口")
    assert found[0]["name"] == "幸福里小区" and found[0]["kind"] == "estate"


def test_unknown_or_empty_text_finds_nothing(tree):
    assert find_place("") == [] and find_place("   ") == []
    assert find_place("今天天气不错，没有什么问题") == []


def test_the_right_name_among_thousands():
    entries = [(f"测试地名{i:05d}号", Entry(f"测试地名{i:05d}号", "place", 113.3, 40.09, "x")) for i in range(5000)]
    g = Gazetteer(entries)
    text = "在测试地名04321号附近，" * 20
    found = g.find(text)
    assert found[0]["name"] == "测试地名04321号"


def test_place_api(loop, api_client):
    r = api_client.get("/api/v1/router/place", {"text": "华严寺门口有人乱摆摊"}, **auth(loop.dispatcher))
    assert r.status_code == 200 and r.json()["items"][0]["name"] == "华严寺"
    assert api_client.get("/api/v1/router/place", {"text": "x"}).status_code == 401
