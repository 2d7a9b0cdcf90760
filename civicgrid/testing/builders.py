"""Builders for tests: a small region tree, organisations and users holding grants.

The tree mirrors real codes: district 140213, streets 140213050/140213051, two communities each, two grids
each. Geometry is a simple grid of squares so locate and maps work without the demo generator.
"""

from __future__ import annotations

import itertools

from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.regions.models import GridKind, Level, Region

_counter = itertools.count(1)


def _square(x0: float, y0: float, size: float) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _region(code, name, level, parent, x0, y0, size, **extra) -> Region:
    geometry = _square(x0, y0, size)
    return Region.objects.create(
        code=code,
        name=name,
        level=level,
        parent=parent,
        geometry=geometry,
        min_lng=x0,
        min_lat=y0,
        max_lng=x0 + size,
        max_lat=y0 + size,
        centroid_lng=x0 + size / 2,
        centroid_lat=y0 + size / 2,
        is_demo_geometry=True,
        **extra,
    )


def small_tree() -> dict[str, Region]:
    """District → 2 streets → 2 communities each → 2 grids each (codes as the standard builds them)."""
    regions: dict[str, Region] = {}
    x, y, s = 113.20, 40.00, 0.08
    district = _region("140213", "平城区", Level.DISTRICT, None, x, y, s * 2)
    regions[district.code] = district
    for si, (scode, sname) in enumerate([("140213050", "永泰街道"), ("140213051", "古城街道")]):
        street = _region(scode, sname, Level.STREET, district, x + si * s, y, s)
        regions[scode] = street
        for ci in range(2):
            ccode = f"{scode}{ci + 1:03d}"
            community = _region(ccode, f"{sname[:2]}社区{ci + 1}", Level.COMMUNITY, street, x + si * s, y + ci * s / 2, s / 2)
            regions[ccode] = community
            for gi in range(2):
                gcode = f"{ccode}{gi + 1:03d}"
                regions[gcode] = _region(
                    gcode,
                    f"{community.name}第{gi + 1}网格",
                    Level.GRID,
                    community,
                    x + si * s + gi * s / 4,
                    y + ci * s / 2,
                    s / 4,
                    grid_kind=GridKind.COMPREHENSIVE,
                )
    return regions


def department(name: str = "区城管局", code: str | None = None, region: Region | None = None) -> Organisation:
    region = region or Region.objects.get(code="140213")
    return Organisation.objects.create(
        code=code or f"DEPT{next(_counter):04d}", name=name, kind=OrgKind.DEPARTMENT, region=region
    )


def user_with(role: str, *, region: Region | None = None, department: Organisation | None = None, username=None) -> User:
    """A user holding one grant (created directly: tests of granting itself go through the service).

    The made-up username is short (the role's initials and a number, "gw2027"): the password policy refuses a
    password too like the username, and "grid_worker-2027" is too like "Grid-Renewed-2027?" (a CI run drew that
    number). A name of at most 7 characters cannot reach Django's 0.7 similarity against a password of 15 or more,
    so the tests' passwords are refused or accepted for their own reasons only."""
    initials = "".join(word[0] for word in role.split("_"))
    user = User.objects.create_user(
        username=username or f"{initials}{next(_counter)}", password="Civic-Test-2026!", display_name=role
    )
    Grant.objects.create(user=user, role=role, region=region, department=department)
    return user


def category(name: str = "暴露垃圾", code: str = "06001"):
    """A subclass of the GB/T 47678.5 taxonomy (its class made on first use): 立案 needs one."""
    from civicgrid.apps.categories.models import Category, CategoryKind, Taxonomy

    tax, _ = Taxonomy.objects.get_or_create(code="gb47678", defaults={"name": "GB/T 47678.5-2026"})
    parent, _ = Category.objects.get_or_create(taxonomy=tax, code=code[:2], defaults={"name": "市容环境类",
                                                                                      "kind": CategoryKind.MATTER})
    found, _ = Category.objects.get_or_create(taxonomy=tax, code=code, defaults={"name": name, "parent": parent,
                                                                                 "kind": CategoryKind.MATTER})
    return found
