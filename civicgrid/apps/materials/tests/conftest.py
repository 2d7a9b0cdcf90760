"""A small district with warehouses for the materials tests: the builders' tree; a district warehouse, one per
street, one in a community; a few catalogue items; and one account per role that moves stock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from civicgrid.apps.materials.models import Grade, Group, MaterialItem, Warehouse
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import department, user_with


@dataclass
class Depot:
    tree: dict
    dept: object
    sandbag: MaterialItem
    pump: MaterialItem
    water: MaterialItem
    district: Warehouse
    street: Warehouse  # 永泰街道 140213050
    community: Warehouse  # 140213050001
    other: Warehouse  # 古城街道 140213051
    centre: object  # command dispatcher, district
    staff: object  # street staff of 140213050
    community_staff: object
    other_staff: object  # street staff of 140213051
    worker: object  # grid worker in 140213050001001
    handler: object  # department handler of `dept`
    leader: object


def _wh(code, name, region, lat, lng, dept=None) -> Warehouse:
    wh = Warehouse(code=code, name=name, region=region, lat=lat, lng=lng, department=dept, keeper="王保管")
    wh.save()
    return wh


@pytest.fixture
def depot(tree) -> Depot:
    dept = department("区应急局")
    items = {
        "sandbag": MaterialItem.objects.create(code="sandbag", name="编织袋/沙袋", unit="条", group=Group.RESCUE,
                                               grade=Grade.A),
        "pump": MaterialItem.objects.create(code="pump", name="水泵", unit="台", group=Group.DRAINAGE, grade=Grade.A),
        "water": MaterialItem.objects.create(code="water", name="饮用水", unit="箱", group=Group.LIVING,
                                             grade=Grade.C, tracks_expiry=True),
    }
    return Depot(
        tree=tree, dept=dept, **items,
        district=_wh("WH-D", "区防汛物资库", tree["140213"], 40.08, 113.28, dept),
        street=_wh("WH-050", "永泰街道物资库", tree["140213050"], 40.04, 113.24),
        community=_wh("WH-050001", "永泰社区1储备点", tree["140213050001"], 40.02, 113.22),
        other=_wh("WH-051", "古城街道物资库", tree["140213051"], 40.04, 113.32),
        centre=user_with(Role.COMMAND_DISPATCHER, region=tree["140213"]),
        staff=user_with(Role.STREET_STAFF, region=tree["140213050"]),
        community_staff=user_with(Role.COMMUNITY_STAFF, region=tree["140213050001"]),
        other_staff=user_with(Role.STREET_STAFF, region=tree["140213051"]),
        worker=user_with(Role.GRID_WORKER, region=tree["140213050001001"]),
        handler=user_with(Role.DEPARTMENT_HANDLER, department=dept),
        leader=user_with(Role.LEADER, region=tree["140213"]),
    )


def quantities(warehouse, item) -> dict:
    from civicgrid.apps.materials.models import StockLot

    return {(lot.batch, lot.condition): lot.quantity
            for lot in StockLot.objects.filter(warehouse=warehouse, item=item)}


def state() -> tuple:
    """Everything a refused action must leave as it was."""
    from civicgrid.apps.materials.models import Movement, StockCount, StockCountLine, StockLot
    from civicgrid.foundation.audit.models import AuditEntry
    from civicgrid.foundation.events.models import OutboxEvent
    from civicgrid.foundation.notify.models import Notification

    return (sorted(StockLot.objects.values_list("pk", "quantity", "condition")), Movement.objects.count(),
            sorted(StockCount.objects.values_list("pk", "status")), StockCountLine.objects.count(),
            AuditEntry.objects.count(), OutboxEvent.objects.count(), Notification.objects.count())
