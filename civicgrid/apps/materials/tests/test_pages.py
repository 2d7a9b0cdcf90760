"""The pages: list with map data, warehouse detail with forms, a movement through the form (and a refused one),
a count through its page, shortages, the nearest finder, the ledger download and the import page."""

import io
import json
import re
from html import unescape as html_unescape

import pytest
from django.test import Client
from openpyxl import Workbook, load_workbook

from civicgrid.apps.materials import services
from civicgrid.apps.materials.models import StockCount
from civicgrid.apps.materials.services.stock import balance

from .conftest import state

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_list_shows_scope_on_the_table_and_the_map(depot):
    page = _client(depot.staff).get("/materials/")
    assert page.status_code == 200
    html = page.content.decode()
    oids = set(re.findall(r'data-oid="(\d+)"', html))
    assert oids == {str(w.pk) for w in (depot.district, depot.street, depot.community)}
    points = json.loads(re.search(r'id="materials-points" type="application/json">(.*?)</script>', html).group(1))
    assert {p["code"] for p in points} == {"WH-D", "WH-050", "WH-050001"}
    assert "应急物资" in html
    assert _client(depot.staff).get(f"/materials/warehouses/{depot.other.pk}/").status_code == 404


def test_a_movement_through_the_form_and_a_refused_one(depot):
    client = _client(depot.staff)
    url = f"/materials/warehouses/{depot.street.pk}/move"
    r = client.post(url, {"kind": "in", "item": "sandbag", "quantity": "500", "reason": "采购"}, follow=True)
    assert r.status_code == 200 and "结存 500" in r.content.decode()
    before = state()
    r = client.post(url, {"kind": "out", "item": "sandbag", "quantity": "501", "reason": "加固"}, follow=True)
    assert "库存不足" in r.content.decode()
    assert state() == before
    # The district warehouse is shown read-only to street staff: no form, and a post is refused.
    page = client.get(f"/materials/warehouses/{depot.district.pk}/").content.decode()
    assert 'data-testid="read-only"' in page and "movement-form" not in page
    client.post(f"/materials/warehouses/{depot.district.pk}/move",
                {"kind": "in", "item": "sandbag", "quantity": "5", "reason": "x"}, follow=True)
    assert balance(depot.district.pk, depot.sandbag.pk) == 0
    assert _client(depot.worker).post(url, {"kind": "in", "item": "sandbag", "quantity": "5"}).status_code == 403


def test_a_count_through_its_page(depot):
    services.receive(actor=depot.staff, warehouse=depot.street, item="pump", quantity=6, reason="入库")
    client = _client(depot.staff)
    r = client.post(f"/materials/warehouses/{depot.street.pk}/count", {"note": "月度盘点"})
    count = StockCount.objects.get()
    assert r.status_code == 302 and r["Location"].endswith(f"/materials/counts/{count.pk}/")
    line = count.lines.get()
    r = client.post(f"/materials/counts/{count.pk}/", {f"counted_{line.pk}": "5", "action": "confirm"}, follow=True)
    assert "盘点已确认" in r.content.decode()
    assert balance(depot.street.pk, depot.pump.pk) == 5
    assert _client(depot.other_staff).get(f"/materials/counts/{count.pk}/").status_code == 404


def test_shortages_nearest_ledger_and_import_pages(depot):
    services.set_target(actor=depot.centre, street="140213050", item="sandbag", min_quantity=2000)
    services.receive(actor=depot.staff, warehouse=depot.street, item="sandbag", quantity=1200, reason="入库")
    services.receive(actor=depot.centre, warehouse=depot.district, item="sandbag", quantity=5000, reason="入库")
    client = _client(depot.staff)
    html = client.get("/materials/shortages/").content.decode()
    assert "永泰街道" in html and ">800<" in html
    html = client.get("/materials/nearest/?item=sandbag&quantity=1000&lat=40.041&lng=113.241").content.decode()
    rows = re.findall(r'<tr data-oid="(\d+)"', html)
    assert rows == [str(depot.street.pk), str(depot.district.pk)]
    assert client.get("/materials/nearest/?item=sandbag&quantity=1").status_code == 400
    # The shortage's own link searches from the street's centre for the missing quantity.
    link = html_unescape(re.search(r'<a href="([^"]+)" data-nearest>', client.get("/materials/shortages/")
                                   .content.decode()).group(1))
    r = client.get(link)
    assert r.status_code == 200 and "quantity=800" in link and 'data-street="140213050"' in r.content.decode()
    # Only the district's depot: the street's own warehouse (1,200 of them) is what is short.
    assert re.findall(r'<tr data-oid="(\d+)"', r.content.decode()) == [str(depot.district.pk)]
    assert client.get(link.replace("140213050", "140213051")).status_code == 404  # no target of that street here
    r = client.get("/materials/ledger.xlsx")
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sorted(row[1] for row in list(sheet.iter_rows(values_only=True))[1:]) == ["WH-050", "WH-D"]
    wb = Workbook()
    wb.active.append(["仓库编码", "物资编码", "数量"])
    wb.active.append(["WH-050", "sandbag", 900])
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    buffer.name = "stock.xlsx"
    r = client.post("/materials/import/", {"file": buffer})
    assert r.status_code == 302
    assert balance(depot.street.pk, depot.sandbag.pk) == 2100
    html = client.get("/materials/shortages/").content.decode()
    assert "所有街道均达到储备定额" in html


def test_the_menu_offers_materials_to_staff_only(depot):
    from civicgrid.ui.navigation import menu_for

    assert "materials" in {m["key"] for m in menu_for(depot.worker)}
    from civicgrid.testing.builders import user_with

    resident = user_with("resident", region=depot.tree["140213050001001"])
    assert "materials" not in {m["key"] for m in menu_for(resident)}
    assert _client(resident).get("/materials/").status_code == 403


def test_a_street_manager_adds_and_changes_a_warehouse(depot):
    from civicgrid.apps.materials.models import Warehouse

    client = _client(depot.staff)
    assert 'data-testid="warehouse-form"' in client.get("/materials/").content.decode()
    r = client.post("/materials/warehouses/save", {
        "code": "WH-050002", "name": "永泰社区2储备点", "region": "140213050002", "lat": "40.06", "lng": "113.22",
        "keeper": "赵保管", "keeper_phone": "13812345678", "is_active": "1"})
    wh = Warehouse.objects.get(code="WH-050002")
    assert r.status_code == 302 and wh.level == "community" and wh.keeper_phone_masked == "138****5678"
    r = client.post("/materials/warehouses/save", {"code": "WH-050002", "name": "永泰社区2储备点（新址）",
                                                   "region": "140213050002", "lat": "40.061", "lng": "113.221",
                                                   "keeper_phone": "", "is_active": "1"})
    wh.refresh_from_db()
    assert wh.name.endswith("（新址）") and wh.keeper_phone_masked == "138****5678"
    before = state()
    count = Warehouse.objects.count()
    client.post("/materials/warehouses/save", {"code": "WH-X", "name": "越权", "region": "140213051", "lat": "40",
                                               "lng": "113.3"})
    client.post("/materials/warehouses/save", {"code": "WH-Y", "name": "坐标错", "region": "140213050", "lat": "400",
                                               "lng": "113.3"})
    assert Warehouse.objects.count() == count and state() == before
    assert _client(depot.worker).post("/materials/warehouses/save", {"code": "WH-Z"}).status_code == 403


def test_the_catalogue_page(depot):
    from civicgrid.apps.materials.models import MaterialItem

    html = _client(depot.staff).get("/materials/catalogue/").content.decode()
    assert "水泵" in html and 'data-testid="item-form"' not in html
    assert _client(depot.staff).post("/materials/catalogue/", {"code": "x"}).status_code == 403
    client = _client(depot.centre)
    r = client.post("/materials/catalogue/", {"code": "assault_boat", "name": "冲锋舟", "unit": "艘",
                                              "group": "lifesaving", "grade": "A", "is_active": "1"})
    assert r.status_code == 302 and MaterialItem.objects.get(code="assault_boat").grade == "A"
    client.post("/materials/catalogue/", {"code": "bad code!", "name": "x", "unit": "x", "group": "lifesaving"})
    assert not MaterialItem.objects.filter(name="x").exists()
