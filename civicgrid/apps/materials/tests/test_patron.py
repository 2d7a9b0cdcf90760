"""包保: the street's flood 包保 department is named on its street's and communities' warehouses (API, pages, ledger)
and its handlers see those warehouses, their stock, movements, counts and targets — and only see them: moving
stock stays with the street and the warehouse's own department. The 包保 table is read, not copied, so a change
of it shows at once."""

import io
import re

import pytest
from django.test import Client
from openpyxl import load_workbook

from civicgrid.apps.hazards.models import PatronAssignment
from civicgrid.apps.materials import services
from civicgrid.apps.materials.models import Movement, StockCount, StockLot, StockTarget, Warehouse
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import PermissionDenied
from civicgrid.testing.builders import department, user_with

from .conftest import state

pytestmark = pytest.mark.django_db


@pytest.fixture
def patron(depot):
    """区水务局 is the flood 包保 department of 永泰街道 (140213050); its handler; stock and a target there."""
    water = department("区水务局")
    PatronAssignment(department=water, street=depot.tree["140213050"], kind="flood").save()
    services.receive(actor=depot.centre, warehouse=depot.street, item="sandbag", quantity=500, reason="入库")
    services.receive(actor=depot.centre, warehouse=depot.community, item="pump", quantity=3, reason="入库")
    services.receive(actor=depot.centre, warehouse=depot.other, item="sandbag", quantity=800, reason="入库")
    services.receive(actor=depot.centre, warehouse=depot.district, item="sandbag", quantity=900, reason="入库")
    services.set_target(actor=depot.centre, street="140213050", item="sandbag", min_quantity=1000)
    services.set_target(actor=depot.centre, street="140213051", item="sandbag", min_quantity=1000)
    return water, user_with(Role.DEPARTMENT_HANDLER, department=water)


def test_the_patron_handler_sees_its_streets_stock_and_no_other(depot, patron):
    _, handler = patron
    mine = {depot.street.pk, depot.community.pk}
    assert set(Warehouse.objects.visible_to(handler).values_list("pk", flat=True)) == mine
    assert set(StockLot.objects.visible_to(handler).values_list("warehouse_id", flat=True)) == mine
    assert set(Movement.objects.visible_to(handler).values_list("warehouse_id", flat=True)) == mine
    assert set(StockTarget.objects.visible_to(handler).values_list("region_code", flat=True)) == {"140213050"}
    count = services.start_count(actor=depot.staff, warehouse=depot.street)
    services.start_count(actor=depot.other_staff, warehouse=depot.other)
    assert list(StockCount.objects.visible_to(handler).values_list("pk", flat=True)) == [count.pk]
    # The patron path is for reading only: asked for another action it adds nothing.
    assert not Warehouse.objects.visible_to(handler, "change").exists()
    # A handler of a department without 包保 streets sees only its own department's (district) warehouse.
    assert set(Warehouse.objects.visible_to(depot.handler).values_list("pk", flat=True)) == {depot.district.pk}


def test_the_api_names_the_patron_and_scopes_its_handler(depot, patron, api_client, token_for):
    water, handler = patron
    got = api_client.get("/api/v1/materials/warehouses", **token_for(handler)).json()
    assert {w["code"] for w in got["items"]} == {"WH-050", "WH-050001"}
    assert {w["patron_department"] for w in got["items"]} == {"区水务局"}
    assert {w["patron_department_id"] for w in got["items"]} == {water.pk}
    detail = api_client.get(f"/api/v1/materials/warehouses/{depot.street.pk}", **token_for(handler))
    assert detail.status_code == 200 and detail.json()["patron_department"] == "区水务局"
    assert detail.json()["holdings"][0]["usable"] == 500
    for wh in (depot.other, depot.district):
        assert api_client.get(f"/api/v1/materials/warehouses/{wh.pk}", **token_for(handler)).status_code == 404
    stock = api_client.get("/api/v1/materials/stock", **token_for(handler)).json()
    assert {lot["warehouse"] for lot in stock["items"]} == {"WH-050", "WH-050001"}
    moves = api_client.get("/api/v1/materials/movements", **token_for(handler)).json()
    assert {m["warehouse"] for m in moves["items"]} == {"WH-050", "WH-050001"}
    short = api_client.get("/api/v1/materials/shortages", **token_for(handler)).json()
    assert [(s["street_code"], s["patron_department"]) for s in short["items"]] == [("140213050", "区水务局")]
    # Everyone else reads the same name; the district and another street's warehouses name none.
    everything = {w["code"]: w for w in api_client.get("/api/v1/materials/warehouses",
                                                       **token_for(depot.centre)).json()["items"]}
    assert everything["WH-050001"]["patron_department"] == "区水务局"
    assert everything["WH-051"]["patron_department"] is None and everything["WH-D"]["patron_department"] is None


def test_the_patron_handler_cannot_move_stock(depot, patron, api_client, token_for):
    _, handler = patron
    headers = token_for(handler)
    before = state()
    r = api_client.post("/api/v1/materials/movements", {"kind": "out", "warehouse": "WH-050", "item": "sandbag",
                                                        "quantity": 5, "reason": "抢险"},
                        content_type="application/json", **headers)
    assert r.status_code == 403
    with pytest.raises(PermissionDenied):
        services.transfer(actor=handler, source=depot.street, destination=depot.community, item="sandbag",
                          quantity=5, reason="调拨")
    with pytest.raises(PermissionDenied):
        services.start_count(actor=handler, warehouse=depot.street)
    assert state() == before
    # The warehouse's own department still moves its stock.
    depot.street.department = depot.dept
    depot.street.save()
    services.draw(actor=depot.handler, warehouse=depot.street, item="sandbag", quantity=5, reason="抢险")
    assert StockLot.objects.get(warehouse=depot.street, item=depot.sandbag).quantity == 495


def test_a_change_of_the_patron_table_shows_at_once(depot, patron, api_client, token_for):
    _, handler = patron
    emergency = department("区住建局")
    newcomer = user_with(Role.DEPARTMENT_HANDLER, department=emergency)
    row = PatronAssignment.objects.get(street_code="140213050", kind="flood")
    row.department = emergency
    row.save()
    assert not Warehouse.objects.visible_to(handler).exists()
    got = api_client.get("/api/v1/materials/warehouses", **token_for(newcomer)).json()
    assert {(w["code"], w["patron_department"]) for w in got["items"]} == {("WH-050", "区住建局"),
                                                                          ("WH-050001", "区住建局")}
    # A safety 包保 does not make a department a patron of the street's materials.
    PatronAssignment(department=depot.dept, street=depot.tree["140213051"], kind="safety").save()
    assert set(Warehouse.objects.visible_to(depot.handler).values_list("code", flat=True)) == {"WH-D"}


def test_pages_and_ledger_name_the_patron(depot, patron):
    _, handler = patron
    client = Client()
    client.force_login(handler)
    html = client.get("/materials/").content.decode()
    assert set(re.findall(r'data-oid="(\d+)"', html)) == {str(depot.street.pk), str(depot.community.pk)}
    assert re.search(r'data-field="patron_department">区水务局<', html)
    page = client.get(f"/materials/warehouses/{depot.street.pk}/")
    assert page.status_code == 200
    detail = page.content.decode()
    assert "区水务局" in detail
    assert 'name="quantity"' not in detail  # no movement form for a reader
    assert client.get(f"/materials/warehouses/{depot.other.pk}/").status_code == 404
    before = state()
    refused = client.post(f"/materials/warehouses/{depot.street.pk}/move",
                          {"kind": "out", "item": "sandbag", "quantity": "5", "reason": "抢险"}, follow=True)
    assert "您无权变更" in refused.content.decode()
    assert state() == before
    rows = list(load_workbook(io.BytesIO(client.get("/materials/ledger.xlsx").content)).active.iter_rows(
        values_only=True))
    header = rows[0]
    assert {(r[header.index("仓库编码")], r[header.index("包保部门")]) for r in rows[1:]} == {
        ("WH-050", "区水务局"), ("WH-050001", "区水务局")}


def test_lists_keep_their_query_count_for_a_patron(depot, patron, api_client, token_for,
                                                   django_assert_max_num_queries):
    _, handler = patron
    for i in range(12):
        services.receive(actor=depot.centre, warehouse=depot.community, item="sandbag", quantity=10 + i,
                         batch=f"B{i}", reason="入库")
    headers = token_for(handler)
    for url in ("/api/v1/materials/stock", "/api/v1/materials/movements", "/api/v1/materials/warehouses",
                "/api/v1/materials/counts", "/api/v1/materials/shortages?all=true"):
        with django_assert_max_num_queries(8):
            assert api_client.get(url, **headers).status_code == 200
