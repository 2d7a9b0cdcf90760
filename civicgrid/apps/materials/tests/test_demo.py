"""The demo: warehouses at three levels, stock, targets with shortages, marked 演示; a second run writes nothing."""

import pytest

from civicgrid.apps.hazards.models import PatronAssignment
from civicgrid.apps.materials import selectors
from civicgrid.apps.materials.demo import load_demo_materials
from civicgrid.apps.materials.models import Movement, StockLot, Warehouse
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import department, user_with

pytestmark = pytest.mark.django_db


def test_demo_materials_load_once_with_shortages(tree):
    summary = load_demo_materials()
    assert "仓库" in summary and "演示" in summary
    levels = sorted(Warehouse.objects.values_list("level", flat=True))
    assert levels.count("district") == 1 and levels.count("street") == 2 and levels.count("community") == 2
    assert all(w.is_demo and "演示" in w.name for w in Warehouse.objects.all())
    assert StockLot.objects.filter(quantity__gt=0).count() > 30
    assert Movement.objects.filter(kind="issue").exists() and Movement.objects.filter(kind="transfer_in").exists()
    centre = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"])
    short = selectors.target_status(centre)
    assert {s.target.item.code for s in short} >= {"sandbag"}
    assert selectors.nearest_warehouses(40.04, 113.24, "pump", 1, user=centre)
    # The street's 包保 department is named on its stores and sees them, but does not run them.
    water = department("区水务局")
    PatronAssignment(department=water, street=tree["140213050"], kind="flood").save()
    handler = user_with(Role.DEPARTMENT_HANDLER, department=water)
    seen = list(selectors.warehouse_list(handler))
    assert {w.street_code for w in seen} == {"140213050"} and len(seen) == 2
    assert {w.patron_department_name for w in seen} == {"区水务局"} and not any(w.department_id for w in seen)
    lots, movements = StockLot.objects.count(), Movement.objects.count()
    assert load_demo_materials() == "已存在，未改动"
    assert (StockLot.objects.count(), Movement.objects.count()) == (lots, movements)
