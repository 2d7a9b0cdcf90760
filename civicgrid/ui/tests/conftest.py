"""Fixtures for the page tests: base data in two grids of two different streets, and signed-in clients."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.foundation.people.models import Building, House, Household, Place, Resident, Unit

HOME_GRID = "140213050001001"  # 永泰街道 → 社区1 → 第1网格
OTHER_GRID = "140213051001001"  # 古城街道: outside a 永泰 officer's scope


def make_base_data(grid, tag: str, residents: int = 2) -> dict:
    """One of each base-data object in `grid`, with `residents` residents (masked numbers only)."""
    building = Building.objects.create(code=f"B{tag}", address=f"{grid.name}幸福路{tag}号", estate="幸福小区",
                                       grid=grid, region_code=grid.code, floors=6)
    house = House.objects.create(code=f"H{tag}", building=building, unit_no="1", room_no="101", grid=grid,
                                 region_code=grid.code)
    household = Household.objects.create(code=f"HH{tag}", house=house, address=building.address, head_name=f"户主{tag}",
                                         grid=grid, region_code=grid.code, size=residents)
    people = [
        Resident.objects.create(name=f"居民{tag}-{i}", grid=grid, region_code=grid.code, household=household,
                                id_number_masked="1402**********1234", phone_masked="138****0000",
                                id_number_enc="x", phone_enc="x")
        for i in range(residents)
    ]
    unit = Unit.objects.create(name=f"便民超市{tag}", kind="shop", grid=grid, region_code=grid.code,
                               building=building, contact_phone_masked="139****1111")
    place = Place.objects.create(name=f"口袋公园{tag}", kind="park", grid=grid, region_code=grid.code)
    return {"building": building, "house": house, "household": household, "residents": people, "resident": people[0],
            "unit": unit, "place": place}


@pytest.fixture
def home(tree):
    return make_base_data(tree[HOME_GRID], "A")


@pytest.fixture
def away(tree):
    return make_base_data(tree[OTHER_GRID], "Z")


@pytest.fixture
def client_for():
    """A test client signed in as `user` (force_login: the login form has its own tests)."""

    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make
