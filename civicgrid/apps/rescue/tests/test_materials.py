"""Materials issued to an incident through the materials app's service: stock leaves the warehouse, the
incident shows the line and its timeline the step; refusals there change nothing on either side."""

from __future__ import annotations

import json

import pytest

from civicgrid.apps.materials import services as materials
from civicgrid.apps.materials.models import Grade, Group, MaterialItem, Movement, StockLot, Warehouse
from civicgrid.apps.rescue import services
from civicgrid.foundation.core.errors import Conflict, NotFound, ValidationFailed

from .conftest import auth, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def stock(world):
    sandbag = MaterialItem.objects.create(code="sandbag", name="编织袋/沙袋", unit="条", group=Group.RESCUE,
                                          grade=Grade.A)
    wh = Warehouse(code="WH-050", name="永泰街道物资库", region=world.tree["140213050"], lat=40.04, lng=113.24)
    wh.save()
    other = Warehouse(code="WH-051", name="古城街道物资库", region=world.tree["140213051"], lat=40.04, lng=113.32)
    other.save()
    materials.receive(actor=world.command, warehouse=wh, item=sandbag, quantity=500)
    materials.receive(actor=world.command, warehouse=other, item=sandbag, quantity=500)
    return {"item": sandbag, "wh": wh, "other": other}


def balance(wh, item) -> int:
    return sum(StockLot.objects.filter(warehouse=wh, item=item).values_list("quantity", flat=True))


def test_issue_to_incident(client, world, stock):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    r = client.post(f"/api/v1/rescue/incidents/{incident.pk}/materials",
                    json.dumps({"warehouse": stock["wh"].pk, "item": stock["item"].pk, "quantity": 200,
                                "note": "封堵通道口"}), content_type="application/json", **auth(world.street))
    assert r.status_code == 200, r.content
    [line] = r.json()["materials"]
    assert line["item_name"] == "编织袋/沙袋" and line["warehouse_name"] == "永泰街道物资库"
    assert float(line["quantity"]) == 200 and line["unit"] == "条"
    assert r.json()["timeline"][-1]["action"] == "issue_material"
    assert balance(stock["wh"], stock["item"]) == 300
    assert Movement.objects.filter(incident_ref=incident.code, quantity=-200).exists()


def test_refusals_change_nothing(world, stock):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    before = (state(), balance(stock["wh"], stock["item"]), Movement.objects.count())
    with pytest.raises(Conflict) as exc:  # more than there is: stock never goes negative
        services.issue_material(actor=world.street, incident=incident, warehouse=stock["wh"].pk,
                                item=stock["item"].pk, quantity=501)
    assert "库存不足" in exc.value.message
    with pytest.raises(ValidationFailed):
        services.issue_material(actor=world.street, incident=incident, warehouse=stock["wh"].pk,
                                item=stock["item"].pk, quantity=0)
    with pytest.raises(NotFound):  # another street's warehouse is not the street's to draw from
        services.issue_material(actor=world.street, incident=incident, warehouse=stock["other"].pk,
                                item=stock["item"].pk, quantity=1)
    assert (state(), balance(stock["wh"], stock["item"]), Movement.objects.count()) == before
    services.close_incident(actor=world.street, incident=incident, summary="a", actions="b", losses="c", lessons="d")
    with pytest.raises(Conflict):  # a closed incident takes no more materials
        services.issue_material(actor=world.street, incident=incident, warehouse=stock["wh"].pk,
                                item=stock["item"].pk, quantity=1)
    assert balance(stock["wh"], stock["item"]) == 500


def test_issue_from_the_incident_page(client, world, stock):
    incident = services.raise_incident(actor=world.street, hazard=world.hazard.pk)
    client.force_login(world.street)
    page = client.get(f"/rescue/incidents/{incident.pk}/").text
    assert 'data-action="issue_material"' in page and "永泰街道物资库" in page and "古城街道物资库" not in page
    r = client.post(f"/rescue/incidents/{incident.pk}/act/issue_material/",
                    {"warehouse": stock["wh"].pk, "item": stock["item"].pk, "quantity": "9999"})
    assert r.status_code == 409 and "库存不足" in r.text
    r = client.post(f"/rescue/incidents/{incident.pk}/act/issue_material/",
                    {"warehouse": stock["wh"].pk, "item": stock["item"].pk, "quantity": "120", "note": "封堵"})
    assert r.status_code == 302
    page = client.get(f"/rescue/incidents/{incident.pk}/").text
    assert "编织袋/沙袋" in page and "120 条" in page and balance(stock["wh"], stock["item"]) == 380
