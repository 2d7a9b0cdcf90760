"""Fixtures of the categories tests: the 18 streets of Pingcheng, the district departments and the loaded
directories (built from the same data files the demo uses, without the demo's geometry).

Loading the directories takes a quarter of a second (half a second on PostgreSQL) and some 200 tests use them,
so a module builds them once (`_directory`), in a transaction rolled back at the module's end, and each test that
uses `loaded` runs in a savepoint inside it: what a test writes is gone before the next one, which sees the
directories exactly as loaded. The tests of a module that do not use them run before it is built
(`pytest_collection_modifyitems`), on a database without them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client

from civicgrid.apps.categories import loaders
from civicgrid.apps.categories.models import Category
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.testing.builders import small_tree, user_with

DEPARTMENTS = ["区城管局", "区水务局", "区应急局", "区自然资源局", "区住建局", "区市场监管局", "区生态环境局",
               "区卫健局", "区教育局", "区公安分局", "区司法局", "区民政局", "区文旅局", "区人社局", "区交通局",
               "区委政法委"]


def _add_streets(tree: dict[str, Region]) -> dict[str, Region]:
    district = tree["140213"]
    with (loaders.PROJECT_DATA / "streets_nbs.csv").open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row["code"] not in tree:
                tree[row["code"]] = Region.objects.create(code=row["code"], name=row["name"], level=Level.STREET,
                                                          parent=district)
    return tree


def _add_departments(district: Region) -> dict[str, Organisation]:
    return {
        name: Organisation.objects.create(code=f"140213-T{i:02d}", name=f"平城区{name[1:]}", short_name=name,
                                          kind=OrgKind.DEPARTMENT, region=district)
        for i, name in enumerate(DEPARTMENTS)
    }


def _uses_directory(item_or_request) -> bool:
    return "loaded" in getattr(item_or_request, "fixturenames", ())


class _Directory:
    """The module's tree, streets, departments and loaded directories, by their codes: read again for each test
    (a test's changes to the objects it was given must not reach the next one)."""

    built = False  # while a module's directories are in the database

    def __init__(self, regions: list[str], departments: dict[str, str], results: dict[str, loaders.LoadResult]):
        self.regions = regions
        self.department_codes = departments
        self.results = results

    def tree(self) -> dict[str, Region]:
        found = Region.objects.in_bulk(self.regions, field_name="code")
        return {code: found[code] for code in self.regions}

    def departments(self) -> dict[str, Organisation]:
        found = Organisation.objects.in_bulk(self.department_codes.values(), field_name="code")
        return {name: found[code] for name, code in self.department_codes.items()}


def pytest_collection_modifyitems(items):
    """In each run of a module's tests here, those not using the loaded directories first: once a module has
    built them (`_directory`), they stay in its database until it ends. Nothing else moves (pytest-django's order
    of database and other tests is kept)."""
    here = Path(__file__).parent
    start = 0
    while start < len(items):
        end = start + 1
        while end < len(items) and items[end].path == items[start].path:
            end += 1
        if items[start].path.parent == here:
            items[start:end] = sorted(items[start:end], key=_uses_directory)
        start = end


@pytest.fixture(scope="module")
def _directory(django_db_setup, django_db_blocker):
    """The small tree, the 18 streets, the departments and both directories with the 包保 rules, built once
    for the module in a transaction rolled back at its end (as `world` in tests/conftest.py)."""
    with django_db_blocker.unblock():
        assert not transaction.get_connection().in_atomic_block, "the module's transaction must be the outermost"
        atomic = transaction.atomic()
        atomic.__enter__()
    try:
        with django_db_blocker.unblock():
            tree = _add_streets(small_tree())
            departments = {name: org.code for name, org in _add_departments(tree["140213"]).items()}
            results = loaders.load_all(actor=None)
        _Directory.built = True
        yield _Directory(list(tree), departments, results)
    finally:
        _Directory.built = False
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _apart_from_the_directory(request):
    """A test not using the loaded directories never runs beside them; one using them is not transactional
    (they are shared inside a transaction)."""
    if not _uses_directory(request):
        if _Directory.built:
            pytest.fail("this test runs after its module built the loaded directories (see "
                        "pytest_collection_modifyitems)")
    elif {"transactional_db", "live_server"} & set(request.fixturenames):
        pytest.fail("the loaded directories are shared inside a transaction: a transactional test cannot use them")


@pytest.fixture
def tree(request, db):
    """The small test tree; with the loaded directories, the module's (with the 18 streets)."""
    if _uses_directory(request):
        return request.getfixturevalue("_directory").tree()
    return small_tree()


@pytest.fixture
def streets(request, tree):
    """The small test tree plus the other 16 streets of Pingcheng (codes and names only)."""
    if _uses_directory(request):
        return tree
    return _add_streets(tree)


@pytest.fixture
def departments(request, tree):
    """District departments by the short names the data files use."""
    if _uses_directory(request):
        return request.getfixturevalue("_directory").departments()
    return _add_departments(tree["140213"])


@pytest.fixture
def loaded(_directory, streets, departments):
    """Both taxonomies and the 包保 rules, loaded as the system (the module's, see above). The shared rows keep
    their ids and times from test to test, so the caches this process stamps with them start empty."""
    from civicgrid.apps.cases.services.intake import forget_lookups
    from civicgrid.apps.categories import matching
    from civicgrid.foundation.regions.outline import forget_outline
    from civicgrid.foundation.regions.selectors import invalidate_locator

    matching.clear_cache()
    forget_lookups()
    forget_outline()
    invalidate_locator()
    return _directory.results


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
