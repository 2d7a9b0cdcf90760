"""A small district for the hazard loop: the builders' tree, a 包保 department per street, and one account per
role the loop needs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from civicgrid.apps.hazards.models import PatronAssignment, PatronKind
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.testing.builders import department, user_with

GRID = "140213050001001"
POINT = (113.2100, 40.0100)  # (lng, lat) inside GRID, street 140213050
OTHER_STREET_POINT = (113.2900, 40.0100)  # street 140213051
OUTSIDE = (112.0, 39.0)


@dataclass
class World:
    tree: dict
    patron: object  # 包保 department of street 050
    other_patron: object  # of street 051
    worker: object  # grid worker of GRID
    street: object  # street staff of 050
    other_street: object  # street staff of 051
    patron_handler: object
    other_handler: object
    centre: object  # command dispatcher, district
    leader: object


def flood_fields(**extra) -> dict:
    fields = {"kind": "flood", "category": "low_lying", "name": "永泰南路下穿积水点", "description": "暴雨后积水深约40厘米",
              "lng": POINT[0], "lat": POINT[1], "owner_unit": "区住建局", "owner_person": "王工",
              "owner_phone": "13912345678", "threatened_people": 120, "threatened_households": 40}
    fields.update(extra)
    return fields


@pytest.fixture
def world(tree) -> World:
    patron = department("区水务局")
    other_patron = department("区住建局")
    for code, dept in (("140213050", patron), ("140213051", other_patron)):
        PatronAssignment.objects.create(department=dept, street=tree[code], kind=PatronKind.FLOOD)
        Organisation.objects.create(code=f"SO{code}", name=f"{tree[code].name}办事处", kind=OrgKind.STREET_OFFICE,
                                    region=tree[code])
    return World(
        tree=tree, patron=patron, other_patron=other_patron,
        worker=user_with(Role.GRID_WORKER, region=tree[GRID]),
        street=user_with(Role.STREET_STAFF, region=tree["140213050"]),
        other_street=user_with(Role.STREET_STAFF, region=tree["140213051"]),
        patron_handler=user_with(Role.DEPARTMENT_HANDLER, department=patron),
        other_handler=user_with(Role.DEPARTMENT_HANDLER, department=other_patron),
        centre=user_with(Role.COMMAND_DISPATCHER, region=tree["140213"]),
        leader=user_with(Role.LEADER, region=tree["140213"]),
    )
