"""Shortage and expiry alerts: inbox messages to the people answerable for a street's reserves.

A shortage alert fires when a movement takes a street's usable stock of an item (its own and its communities'
warehouses together, good condition, not expired) from at or above its target (储备定额) to below it. It goes
to the staff who may move stock there (street staff and dispatchers of the street, community staff of the
warehouse's community, the command centre) and to the handlers of the street's 包保 department and of the
warehouse's department. Expiry alerts (`notify_expiring`) tell the same people about lots expiring soon.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import subtree_q
from civicgrid.foundation.notify import titles
from civicgrid.foundation.notify.services import notify_many

from ..models import StockLot, StockTarget, Warehouse

# What inbox titles say before "：<warehouse or street> <item>" (the inbox shows them in the reader's language).
INBOX_TITLES = titles.register(gettext_noop("物资低于储备定额"), gettext_noop("物资已过期"), gettext_noop("物资即将过期"))
REGION_ROLES = (Role.STREET_STAFF, Role.STREET_DISPATCHER, Role.COMMUNITY_STAFF, Role.COMMAND_DISPATCHER)


def street_held(street_code: str, item_id: int, today=None) -> int:
    """Usable stock of an item in a street's warehouses (street and community level)."""
    from .stock import available_q

    qs = StockLot.objects.filter(subtree_q("region_code", street_code), item_id=item_id).filter(available_q(today))
    return qs.aggregate(t=Sum("quantity"))["t"] or 0


def recipients(region_code: str, department_ids=()) -> list[User]:
    """Who answers for stock at `region_code`: region staff whose grant covers it, handlers of the departments."""
    covering = [region_code[:n] for n in (6, 9, 12) if n <= len(region_code)]
    grants = Grant.objects.active().filter(role__in=REGION_ROLES, region__code__in=covering)
    users = set(grants.values_list("user_id", flat=True))
    ids = [d for d in department_ids if d]
    if ids:
        users |= set(Grant.objects.active().filter(role=Role.DEPARTMENT_HANDLER, department_id__in=ids)
                     .values_list("user_id", flat=True))
    return list(User.objects.filter(pk__in=users, is_active=True).order_by("pk"))


def after_changes(warehouse: Warehouse, item, changes, *, actor=None) -> int:
    """Check the street's target after a movement; returns how many messages went out."""
    from .stock import is_available

    if not warehouse.street_code:
        return 0
    delta = sum(c.delta for c in changes if is_available(c.lot))
    if delta >= 0:
        return 0
    target = StockTarget.objects.filter(region_code=warehouse.street_code, item=item).first()
    if target is None:
        return 0
    held = street_held(warehouse.street_code, item.pk)
    if not (held - delta >= target.min_quantity > held):
        return 0
    title = f"物资低于储备定额：{target.street.name} {item.name}"
    body = (f"{target.street.name}{item.name}现有可用 {held}{item.unit}，储备定额 {target.min_quantity}{item.unit}，"
            f"缺口 {target.min_quantity - held}{item.unit}（{warehouse.name}出库后）。")
    users = recipients(warehouse.region_code, (target.department_id, warehouse.department_id))
    stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
    return notify_many(users, "materials_shortage", title, body, target=target,
                       dedupe_prefix=f"materials.shortage:{target.pk}:{stamp}", url="/materials/shortages/")


def notify_expiring(days: int = 30, today=None) -> int:
    """Tell the people answerable for each warehouse about its lots expiring within `days` (once per lot and
    expiry date); returns how many messages went out."""
    today = today or timezone.localdate()
    lots = (StockLot.objects.filter(quantity__gt=0, expiry_date__isnull=False,
                                    expiry_date__lte=today + timedelta(days=days))
            .select_related("warehouse", "item").order_by("warehouse_id", "expiry_date"))
    sent = 0
    for lot in lots:
        wh = lot.warehouse
        state = "已过期" if lot.expiry_date < today else "即将过期"
        title = f"物资{state}：{wh.name} {lot.item.name}"
        body = (f"{wh.name}{lot.item.name}批次「{lot.batch or '—'}」{lot.quantity}{lot.item.unit}，"
                f"有效期至 {lot.expiry_date:%Y-%m-%d}。")
        sent += notify_many(recipients(wh.region_code, (wh.department_id,)), "materials_expiry", title, body,
                            target=lot, dedupe_prefix=f"materials.expiry:{lot.pk}:{lot.expiry_date:%Y%m%d}:{state}",
                            url=f"/materials/warehouses/{wh.pk}/")
    return sent
