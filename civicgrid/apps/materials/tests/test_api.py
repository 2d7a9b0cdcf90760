"""The materials API: lists in scope with a fixed number of queries, movements and their refusals, the nearest
finder by hazard or point, counts, shortages, and the ledger/import round trip through real XLSX files."""

import io
from datetime import date

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from civicgrid.apps.materials import services
from civicgrid.apps.materials.models import StockLot, Warehouse
from civicgrid.apps.materials.services.stock import balance
from civicgrid.testing.xlsx import workbook as _xlsx

from .conftest import state

pytestmark = pytest.mark.django_db


def test_warehouse_list_is_scoped_and_phones_masked(depot, api_client, token_for):
    services.save_warehouse(actor=depot.centre, code="WH-050", name="永泰街道物资库", region="140213050", lat=40.04,
                            lng=113.24, keeper="王保管", keeper_phone="13912345678")
    got = api_client.get("/api/v1/materials/warehouses", **token_for(depot.staff)).json()
    assert {w["code"] for w in got["items"]} == {"WH-D", "WH-050", "WH-050001"}
    street = next(w for w in got["items"] if w["code"] == "WH-050")
    assert street["keeper_phone"] == "139****5678"
    assert "13912345678" not in str(got)
    wh = Warehouse.objects.get(code="WH-050")
    assert wh.keeper_phone_enc and "13912345678" not in wh.keeper_phone_enc
    other = api_client.get(f"/api/v1/materials/warehouses/{depot.other.pk}", **token_for(depot.staff))
    assert other.status_code == 404
    everything = api_client.get("/api/v1/materials/warehouses", **token_for(depot.centre)).json()
    assert everything["total"] == 4
    nobody = api_client.get("/api/v1/materials/stock", **token_for(depot.handler.__class__.objects.create_user(
        "nogrant", password="Civic-Test-2026!")))
    assert nobody.status_code == 403


def test_lists_run_a_fixed_number_of_queries(depot, api_client, token_for, django_assert_max_num_queries):
    headers = token_for(depot.centre)
    for i in range(12):
        services.receive(actor=depot.centre, warehouse=depot.district, item="sandbag", quantity=10 + i,
                         batch=f"B{i}", reason="入库")
    for url in ("/api/v1/materials/stock", "/api/v1/materials/movements", "/api/v1/materials/warehouses",
                "/api/v1/materials/counts", "/api/v1/materials/shortages?all=true"):
        with django_assert_max_num_queries(8):
            assert api_client.get(url, **headers).status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/materials/counts", "/api/v1/materials/stock"])
def test_a_warehouse_named_by_other_digits_is_not_found_not_a_500(depot, api_client, token_for, url):
    # "¹" passes str.isdigit() but is no id: it is looked up as a code (none), never read by int().
    response = api_client.get(url, {"warehouse": "¹"}, **token_for(depot.centre))
    assert response.status_code == 404, response.content


def test_movements_through_the_api(depot, api_client, token_for):
    headers = token_for(depot.staff)
    post = lambda body: api_client.post("/api/v1/materials/movements", body, content_type="application/json",  # noqa: E731
                                        **headers)
    r = post({"kind": "in", "warehouse": "WH-050", "item": "pump", "quantity": 6, "reason": "采购"})
    assert r.status_code == 201 and r.json()["items"][0]["balance_after"] == 6
    r = post({"kind": "issue", "warehouse": str(depot.street.pk), "item": "pump", "quantity": 2,
              "incident_ref": "XQ-9"})
    assert r.status_code == 201 and r.json()["items"][0]["incident_ref"] == "XQ-9"
    r = post({"kind": "transfer", "warehouse": "WH-050", "destination": "WH-050001", "item": "pump", "quantity": 1,
              "reason": "前置"})
    assert r.status_code == 201 and {m["kind"] for m in r.json()["items"]} == {"transfer_out", "transfer_in"}
    before = state()
    r = post({"kind": "out", "warehouse": "WH-050", "item": "pump", "quantity": 99, "reason": "抽排"})
    assert r.status_code == 409 and "库存不足" in r.json()["detail"]
    assert post({"kind": "out", "warehouse": "WH-051", "item": "pump", "quantity": 1, "reason": "x"}).status_code == 404
    assert post({"kind": "out", "warehouse": "WH-D", "item": "pump", "quantity": 1, "reason": "x"}).status_code == 403
    assert post({"kind": "fly", "warehouse": "WH-050", "item": "pump", "quantity": 1}).status_code == 400
    assert post({"kind": "out", "warehouse": "WH-050", "item": "pump", "quantity": "x"}).status_code == 422
    assert state() == before
    listed = api_client.get("/api/v1/materials/movements?incident_ref=XQ-9", **headers).json()
    assert listed["total"] == 1 and listed["items"][0]["quantity"] == -2


def test_nearest_by_point_and_by_hazard(depot, api_client, token_for):
    from civicgrid.apps.hazards.models import Hazard

    for wh, n in ((depot.district, 20), (depot.street, 5), (depot.community, 2), (depot.other, 8)):
        services.receive(actor=depot.centre, warehouse=wh, item="pump", quantity=n, reason="入库")
    grid = depot.tree["140213050001001"]
    hazard = Hazard.objects.create(code="FX-0001", name="低洼点", kind="flood", category="low_lying", description="积水",
                                   found_on=date(2026, 5, 20), lat=40.021, lng=113.221, grid=grid,
                                   region_code=grid.code, street_code="140213050",
                                   registered_at=timezone.now())
    got = api_client.get(f"/api/v1/materials/nearest?hazard={hazard.pk}&item=pump&quantity=3",
                         **token_for(depot.centre)).json()
    assert [w["code"] for w in got["items"]] == ["WH-050", "WH-D", "WH-051"]
    assert got["items"][0]["distance_m"] < got["items"][1]["distance_m"]
    got = api_client.get("/api/v1/materials/nearest?lat=40.021&lng=113.221&item=pump&limit=2",
                         **token_for(depot.staff)).json()
    assert [w["code"] for w in got["items"]] == ["WH-050001", "WH-050"]
    other = token_for(depot.other_staff)
    assert api_client.get(f"/api/v1/materials/nearest?hazard={hazard.pk}&item=pump", **other).status_code == 404
    assert api_client.get("/api/v1/materials/nearest?item=pump", **other).status_code == 400
    assert api_client.get("/api/v1/materials/nearest?lat=1&lng=2&item=nope", **other).status_code == 400


def test_counts_and_shortages_through_the_api(depot, api_client, token_for):
    headers = token_for(depot.staff)
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=100, reason="入库")
    r = api_client.post("/api/v1/materials/targets", {"street": "140213050", "item": "sandbag", "min_quantity": 150},
                        content_type="application/json", **headers)
    assert r.status_code == 201 and r.json()["missing"] == 50
    short = api_client.get("/api/v1/materials/shortages", **headers).json()
    assert [(s["item"], s["held"], s["missing"]) for s in short["items"]] == [("sandbag", 100, 50)]
    assert api_client.get("/api/v1/materials/shortages", **token_for(depot.other_staff)).json()["items"] == []
    count = api_client.post("/api/v1/materials/counts", {"warehouse": "WH-050"}, content_type="application/json",
                            **headers).json()
    line = count["lines"][0]
    r = api_client.post(f"/api/v1/materials/counts/{count['id']}/lines",
                        {"lines": [{"line": line["id"], "counted": 160}]}, content_type="application/json", **headers)
    assert r.json()["lines"][0]["difference"] == 60
    r = api_client.post(f"/api/v1/materials/counts/{count['id']}/confirm", **headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert balance(depot.street.pk, depot.sandbag.pk) == 160
    assert api_client.get("/api/v1/materials/shortages", **headers).json()["items"] == []
    assert api_client.get(f"/api/v1/materials/counts/{count['id']}", **token_for(depot.other_staff)).status_code == 404


def test_ledger_export_opens_in_openpyxl_and_imports_back(depot, api_client, token_for):
    headers = token_for(depot.centre)
    services.receive(actor=depot.centre, warehouse=depot.street, item="sandbag", quantity=2000, batch="2026-05",
                     reason="入库")
    services.receive(actor=depot.centre, warehouse=depot.district, item="water", quantity=30, batch="W1",
                     expiry_date=date(2027, 6, 1), reason="入库")
    r = api_client.get("/api/v1/materials/ledger.xlsx", **headers)
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("id", "仓库编码", "仓库名称")
    by_code = {(row[header.index("仓库编码")], row[header.index("物资编码")]): row for row in rows[1:]}
    assert by_code[("WH-050", "sandbag")][header.index("数量")] == 2000
    assert by_code[("WH-D", "water")][header.index("有效期至")].date() == date(2027, 6, 1)
    assert by_code[("WH-D", "water")][header.index("状态")] == "完好"
    # Only the street's lots for the street's staff.
    mine = load_workbook(io.BytesIO(api_client.get("/api/v1/materials/ledger.xlsx", **token_for(depot.staff)).content))
    assert {row[1] for row in list(mine.active.iter_rows(values_only=True))[1:]} <= {"WH-050", "WH-050001", "WH-D"}
    # The exported file, imported back, doubles every lot (each row is an 入库).
    r = api_client.post("/api/v1/materials/import", {"file": io.BytesIO(r.content)}, **headers)
    assert r.status_code == 201, r.content
    assert r.json() == {"rows": 2, "movements": 2}
    assert balance(depot.street.pk, depot.sandbag.pk) == 4000
    assert StockLot.objects.get(warehouse=depot.district, item=depot.water).expiry_date == date(2027, 6, 1)


def test_an_import_with_a_broken_row_imports_nothing(depot, api_client, token_for):
    headers = token_for(depot.staff)
    data = _xlsx([["仓库编码", "物资编码", "数量", "批次", "状态", "有效期至", "事由"],
                  ["WH-050", "sandbag", 100, "", "完好", "", "采购"],
                  ["WH-050", "unknown-item", 5, "", "", "", ""],
                  ["WH-051", "pump", 1, "", "", "", ""],
                  ["WH-050", "pump", -3, "", "", "", ""],
                  ["WH-050", "pump", 3, "", "坏了", "", ""],
                  ["WH-050", "water", 3, "", "", "2027-13-01", ""]])
    before = state()
    r = api_client.post("/api/v1/materials/import", {"file": io.BytesIO(data)}, **headers)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert [e["row"] for e in errors] == [3, 4, 5, 6, 7]
    assert state() == before
    missing = _xlsx([["仓库编码", "数量"], ["WH-050", 1]])
    r = api_client.post("/api/v1/materials/import", {"file": io.BytesIO(missing)}, **headers)
    assert r.status_code == 400 and "物资编码" in r.json()["detail"]


def test_nearest_for_many_points_in_one_request(depot, api_client, token_for):
    from civicgrid.apps.hazards.models import Hazard

    for wh, n in ((depot.district, 20), (depot.street, 5), (depot.community, 2), (depot.other, 8)):
        services.receive(actor=depot.centre, warehouse=wh, item="pump", quantity=n, reason="入库")
    grid = depot.tree["140213051001001"]
    other_hazard = Hazard.objects.create(code="FX-0002", name="古城低洼点", kind="flood", category="low_lying",
                                         description="积水", found_on=date(2026, 5, 20), lat=40.04, lng=113.33,
                                         grid=grid, region_code=grid.code, street_code="140213051",
                                         registered_at=timezone.now())
    body = {"item": "pump", "quantity": 3, "limit": 2,
            "points": [{"lat": 40.021, "lng": 113.221, "ref": "p1"}, {"lat": 40.04, "lng": 113.33}]}
    got = api_client.post("/api/v1/materials/nearest/batch", body, content_type="application/json",
                          **token_for(depot.centre)).json()
    assert [[w["code"] for w in p["warehouses"]] for p in got["items"]] == [["WH-050", "WH-D"], ["WH-051", "WH-D"]]
    assert got["items"][0]["ref"] == "p1" and got["items"][1]["ref"] == "1"
    mine = api_client.post("/api/v1/materials/nearest/batch", body, content_type="application/json",
                           **token_for(depot.staff)).json()
    assert {w["code"] for p in mine["items"] for w in p["warehouses"]} <= {"WH-050", "WH-D", "WH-050001"}
    r = api_client.post("/api/v1/materials/nearest/batch", {"item": "pump", "hazards": [other_hazard.pk]},
                        content_type="application/json", **token_for(depot.staff))
    assert r.status_code == 404
    r = api_client.post("/api/v1/materials/nearest/batch", {"item": "pump", "hazards": [other_hazard.pk]},
                        content_type="application/json", **token_for(depot.centre))
    assert r.status_code == 200 and r.json()["items"][0]["ref"] == "FX-0002"
    r = api_client.post("/api/v1/materials/nearest/batch", {"item": "pump", "points": []},
                        content_type="application/json", **token_for(depot.centre))
    assert r.status_code == 400
