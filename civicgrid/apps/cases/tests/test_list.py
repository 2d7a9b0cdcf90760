"""The scoped case list: filters, totals, and a query count that does not grow with the page."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicgrid.apps.cases.models import Case, Status

from .conftest import GRID, NEIGHBOUR_POINT, OTHER_STREET_POINT, auth, report

pytestmark = pytest.mark.django_db

_seq = itertools.count(50001)


def bulk_cases(loop, n: int, **extra) -> None:
    """Cases written directly (the list is under test, not intake)."""
    grid = loop.tree[GRID]
    now = timezone.now()
    Case.objects.bulk_create([
        Case(number=f"{timezone.localdate():%Y%m%d}{next(_seq):05d}", title=f"批量{i}", source="grid_worker",
             lng=113.21, lat=40.01, grid=grid, region_code=GRID, category=loop.cat, department=loop.dept,
             status=Status.DISPATCHED, reported_at=now, **extra)
        for i in range(n)
    ])


def test_filters_and_scope(loop, api_client):
    mine = report(loop)
    # reported by the command centre, so the grid worker sees only their own grid's case
    neighbour = report(loop, actor=loop.dispatcher, lng=NEIGHBOUR_POINT[0], lat=NEIGHBOUR_POINT[1],
                       category=loop.other_cat.pk)
    other_street = report(loop, actor=loop.dispatcher, lng=OTHER_STREET_POINT[0], lat=OTHER_STREET_POINT[1])
    Case.objects.filter(pk=neighbour.pk).update(is_overdue=True, department=loop.dept, status=Status.DISPATCHED)

    def numbers(user, **params):
        body = api_client.get("/api/v1/cases", params, **auth(user)).json()
        assert body["count"] == len(body["items"]) <= body["total"]
        return sorted(i["number"] for i in body["items"])

    assert numbers(loop.worker) == [mine.number]
    assert numbers(loop.street_dispatcher) == sorted([mine.number, neighbour.number])
    assert numbers(loop.dispatcher) == sorted([mine.number, neighbour.number, other_street.number])
    assert numbers(loop.handler) == [neighbour.number]  # dispatched to the department
    assert numbers(loop.dispatcher, overdue="true") == [neighbour.number]
    assert numbers(loop.dispatcher, status="reported") == sorted([mine.number, other_street.number])
    assert numbers(loop.dispatcher, status="open") == sorted([mine.number, neighbour.number, other_street.number])
    assert numbers(loop.dispatcher, category=loop.cls.pk) == sorted([mine.number, other_street.number])
    assert numbers(loop.dispatcher, region="140213051") == [other_street.number]
    assert numbers(loop.dispatcher, department=loop.dept.pk) == [neighbour.number]
    today = timezone.localdate().isoformat()
    assert len(numbers(loop.dispatcher, date_from=today, date_to=today)) == 3
    assert numbers(loop.dispatcher, date_to="2000-01-01") == []
    assert numbers(loop.dispatcher, q=mine.number) == [mine.number]
    bad = api_client.get("/api/v1/cases", {"status": "lost"}, **auth(loop.dispatcher))
    assert bad.status_code == 400 and bad.json()["field"] == "status"
    assert api_client.get("/api/v1/cases", {"region": "abc"}, **auth(loop.dispatcher)).status_code == 400
    assert numbers(loop.other_handler) == []


def test_the_list_costs_the_same_queries_for_5_or_50_cases(loop, api_client):
    headers = auth(loop.dispatcher)
    api_client.get("/api/v1/cases", **headers)  # warm the token and grant lookups
    bulk_cases(loop, 5)
    with CaptureQueriesContext(connection) as five:
        assert api_client.get("/api/v1/cases", {"limit": 100}, **headers).json()["count"] == 5
    bulk_cases(loop, 45, is_overdue=True)
    with CaptureQueriesContext(connection) as fifty:
        assert api_client.get("/api/v1/cases", {"limit": 100}, **headers).json()["count"] == 50
    assert len(fifty) == len(five) <= 8, [q["sql"][:120] for q in fifty.captured_queries]


def test_the_list_leaves_the_grids_boundary_in_the_database(loop, api_client):
    headers = auth(loop.dispatcher)
    bulk_cases(loop, 3)
    with CaptureQueriesContext(connection) as ctx:
        body = api_client.get("/api/v1/cases", **headers).json()
    assert body["count"] == 3 and {i["grid_name"] for i in body["items"]} == {loop.tree[GRID].name}
    listing = [q["sql"] for q in ctx.captured_queries if "cases_case" in q["sql"] and "regions_region" in q["sql"]]
    assert listing, "the list joins the grid for its name"
    assert not [sql for sql in listing if '"regions_region"."geometry"' in sql], listing
    assert len(ctx) <= 8
