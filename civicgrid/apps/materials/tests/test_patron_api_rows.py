"""The API's stock, expiring and movement rows name the 包保 department of their warehouse's street, as the pages
do (read with the rows, no query per row): a street with a flood 包保 department, one without, the district
store; the answer of a new movement too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicgrid.apps.hazards.models import PatronAssignment
from civicgrid.apps.materials import services
from civicgrid.testing.builders import department

pytestmark = pytest.mark.django_db


@pytest.fixture
def water(depot):
    """区水务局: flood 包保 of 永泰街道 (140213050); 区住建局: safety 包保 of 古城街道 (not the materials' kind)."""
    water = department("区水务局")
    PatronAssignment(department=water, street=depot.tree["140213050"], kind="flood").save()
    PatronAssignment(department=department("区住建局"), street=depot.tree["140213051"], kind="safety").save()
    return water


def stock(depot, batches: int, first: int = 0) -> None:
    soon = timezone.localdate() + timedelta(days=5)
    for i in range(first, first + batches):
        for wh in (depot.street, depot.community, depot.other, depot.district):
            services.receive(actor=depot.centre, warehouse=wh, item="water", quantity=10 + i, batch=f"B{i}",
                             expiry_date=soon, reason="入库")


def patrons_by_warehouse(items) -> dict:
    return {(row["warehouse"], row["patron_department"], row["patron_department_id"]) for row in items}


def test_stock_expiring_and_movement_rows_name_the_streets_patron(depot, water, api_client, token_for):
    stock(depot, 1)
    expected = {("WH-050", "区水务局", water.pk), ("WH-050001", "区水务局", water.pk), ("WH-051", None, None),
                ("WH-D", None, None)}
    headers = token_for(depot.centre)
    for url in ("/api/v1/materials/stock", "/api/v1/materials/expiring", "/api/v1/materials/movements"):
        body = api_client.get(url, **headers).json()
        assert patrons_by_warehouse(body["items"]) == expected, url
    # a street's staff: only their rows, with the same names
    mine = api_client.get("/api/v1/materials/stock", **token_for(depot.staff)).json()["items"]
    assert patrons_by_warehouse(mine) == {("WH-050", "区水务局", water.pk), ("WH-050001", "区水务局", water.pk),
                                          ("WH-D", None, None)}


def test_a_new_movement_is_answered_with_its_patron(depot, water, api_client, token_for):
    stock(depot, 1)
    r = api_client.post("/api/v1/materials/movements", {"kind": "transfer", "warehouse": "WH-D",
                                                        "destination": "WH-050", "item": "water", "quantity": 3,
                                                        "reason": "前置"},
                        content_type="application/json", **token_for(depot.centre))
    assert r.status_code == 201, r.content
    rows = {(m["warehouse"], m["kind"], m["patron_department"]) for m in r.json()["items"]}
    assert rows == {("WH-D", "transfer_out", None), ("WH-050", "transfer_in", "区水务局")}


def test_the_lists_take_as_many_queries_for_many_rows_as_for_few(depot, water, api_client, token_for):
    headers = token_for(depot.centre)
    urls = ("/api/v1/materials/stock", "/api/v1/materials/expiring", "/api/v1/materials/movements")
    api_client.get(urls[0], **headers)  # the token's first use is written once

    def queries() -> dict:
        out = {}
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                body = api_client.get(url, **headers).json()
            out[url] = (len(ctx.captured_queries), body["count"])
        return out

    stock(depot, 1)
    few = queries()
    stock(depot, 5, first=1)
    many = queries()
    assert {u: n for u, (n, _) in few.items()} == {u: n for u, (n, _) in many.items()}
    assert all(count == 4 for _, count in few.values()) and all(count == 24 for _, count in many.values())
