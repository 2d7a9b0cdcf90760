"""Fixtures of the categories tests: the 18 streets of Pingcheng, the district departments and the loaded
directories (built from the same data files the demo uses, without the demo's geometry)."""

from __future__ import annotations

import csv

import pytest
from django.test import Client

from civicgrid.apps.categories import loaders
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.testing.builders import user_with

DEPARTMENTS = ["区城管局", "区水务局", "区应急局", "区自然资源局", "区住建局", "区市场监管局", "区生态环境局",
               "区卫健局", "区教育局", "区公安分局", "区司法局", "区民政局", "区文旅局", "区人社局", "区交通局",
               "区委政法委"]


@pytest.fixture
def streets(tree):
    """The small test tree plus the other 16 streets of Pingcheng (codes and names only)."""
    district = tree["140213"]
    with (loaders.PROJECT_DATA / "streets_nbs.csv").open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row["code"] not in tree:
                tree[row["code"]] = Region.objects.create(code=row["code"], name=row["name"], level=Level.STREET,
                                                          parent=district)
    return tree


@pytest.fixture
def departments(tree):
    """District departments by the short names the data files use."""
    return {
        name: Organisation.objects.create(code=f"140213-T{i:02d}", name=f"平城区{name[1:]}", short_name=name,
                                          kind=OrgKind.DEPARTMENT, region=tree["140213"])
        for i, name in enumerate(DEPARTMENTS)
    }


@pytest.fixture
def loaded(streets, departments):
    """Both taxonomies and the 包保 rules, loaded as the system."""
    return loaders.load_all(actor=None)


@pytest.fixture
def manager(tree):
    from civicgrid.foundation.access.roles import Role

    return user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])


def garbage() -> Category:
    """GB/T 47678.5 matter 06010 暴露垃圾, the category the rule and dispatch tests route."""
    return Category.objects.get(taxonomy__code="gbt47678_5_2026", kind="matter", code="06010")


@pytest.fixture
def admin(loaded, manager):
    """The manager signed in, with both directories loaded."""
    client = Client()
    client.force_login(manager)
    return client
