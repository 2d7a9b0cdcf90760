"""Open311 reports with only an address_string: the gazetteer's one confident place locates them; an exact
standard address still goes to its building; an unknown or ambiguous text keeps the usual 400."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case
from civicgrid.foundation.people.models import Building, Place
from civicgrid.integrations.open311.tests.conftest import (  # noqa: F401  (fixtures)
    GRID,
    POINT,
    _fresh_buckets,
    form,
    http,
    o311,
    post,
)
from civicgrid.integrations.router.gazetteer import confident_place

pytestmark = pytest.mark.django_db


def _place(world, name="永泰公园", dx=0.001):
    grid = world.tree[GRID]
    return Place.objects.create(name=name, kind="park", grid=grid, region_code=grid.code, lng=POINT[0] + dx,
                                lat=POINT[1] + dx)


def test_address_string_naming_a_known_place_is_located_by_the_gazetteer(o311, http):  # noqa: F811
    _place(o311)
    r = post(http, "requests.json", form(o311, lat=None, long=None, address_string="永泰公园东门对面"))
    assert r.status_code == 201, r.content
    case = Case.objects.get(number=r.json()[0]["service_request_id"])
    assert case.grid.code == GRID and abs(case.lng - (POINT[0] + 0.001)) < 1e-6
    assert case.address == "永泰公园东门对面" and case.crs_in == "wgs84"


def test_an_exact_standard_address_still_wins(o311, http):  # noqa: F811
    grid = o311.tree[GRID]
    Building.objects.create(code="B0001", address="永泰街道新建北路12号", grid=grid, region_code=grid.code,
                            lng=POINT[0], lat=POINT[1])
    r = post(http, "requests.json", form(o311, lat=None, long=None, address_string="永泰街道新建北路12号"))
    assert r.status_code == 201
    assert abs(Case.objects.get().lng - POINT[0]) < 1e-9


def test_unknown_or_ambiguous_text_keeps_the_400(o311, http):  # noqa: F811
    r = post(http, "requests.json", form(o311, lat=None, long=None, address_string="某处"))
    assert r.status_code == 400 and "address_string" in r.content.decode()
    _place(o311, "人民公园", 0.001)
    _place(o311, "人民公园", 0.05)  # two places of that name far apart
    assert confident_place("人民公园门口") is None
    r = post(http, "requests.json", form(o311, lat=None, long=None, address_string="人民公园门口"))
    assert r.status_code == 400 and not Case.objects.exists()
