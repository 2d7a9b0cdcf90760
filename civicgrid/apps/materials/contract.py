"""Scope contract hooks: a community warehouse per placement, with a lot, a movement, a count and a target of
its street (each carrying the placement's marker)."""

from django.utils import timezone

from civicgrid.testing.contract import Placement, register_factory

from .models import Group, MaterialItem, Movement, MovementKind, StockCount, StockLot, StockTarget, Warehouse


def _item(placement: Placement, label: str) -> MaterialItem:
    mark = placement.mark()
    return MaterialItem.objects.create(code=f"{label}-{mark}", name=f"契约物资 {mark}", unit="件", group=Group.TOOLS)


def _warehouse(placement: Placement) -> Warehouse:
    found = placement.objects.get("materials.warehouse")
    if found is None:
        mark = placement.mark()
        grid = placement.grid
        found = Warehouse(code=f"WH-{mark}", name=f"契约仓库 {mark}", region=placement.community,
                          lat=grid.centroid_lat, lng=grid.centroid_lng, department=placement.department)
        found.save()
        placement.objects["materials.warehouse"] = found
    return found


def _lot(placement: Placement) -> StockLot:
    found = placement.objects.get("materials.stocklot")
    if found is None:
        found = StockLot(warehouse=_warehouse(placement), item=_item(placement, "lot"), batch=placement.mark(),
                         quantity=7, expiry_date=timezone.localdate())
        found.save()
        placement.objects["materials.stocklot"] = found
    return found


def _movement(placement: Placement) -> Movement:
    lot = _lot(placement)
    row = Movement(warehouse=lot.warehouse, item=lot.item, lot=lot, kind=MovementKind.IN, quantity=7, balance_after=7,
                   reason=f"契约入库 {placement.mark()}", actor_name="contract", at=timezone.now())
    row.save()
    return row


def _count(placement: Placement) -> StockCount:
    count = StockCount(warehouse=_warehouse(placement), note=f"契约盘点 {placement.mark()}")
    count.save()
    return count


def _target(placement: Placement) -> StockTarget:
    target = StockTarget(street=placement.street, item=_item(placement, "tgt"), min_quantity=5,
                         department=placement.department, note=f"契约定额 {placement.mark()}")
    target.save()
    return target


register_factory("materials.Warehouse", _warehouse)
register_factory("materials.StockLot", _lot)
register_factory("materials.Movement", _movement)
register_factory("materials.StockCount", _count)
register_factory("materials.StockTarget", _target)
