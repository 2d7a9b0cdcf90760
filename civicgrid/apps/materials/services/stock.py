"""Movements of stock: 入库, 出库, 调拨 (both sides in one transaction), 出库至险情, condition changes.

Each service runs in one transaction: it locks the warehouse rows involved (in primary-key order, so two
transfers in opposite directions cannot deadlock), checks scope and capability, plans which lots to draw
(first expiry first; expired lots only when the batch is named), decrements each lot with a conditional update
that cannot take it below zero, writes one `Movement` per lot touched with the balance after it, audits,
publishes `materials.moved`, and raises shortage alerts when a street falls below its target. A refused
movement raises before anything is written, or rolls the whole transaction back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from civicgrid.foundation.audit.service import actor_label, user_or_none
from civicgrid.foundation.core.errors import Conflict, ValidationFailed

from ..models import Condition, MaterialItem, Movement, MovementKind, StockLot, Warehouse
from . import alerts
from .common import (
    audit,
    check_can,
    clean_date,
    clean_quantity,
    clean_text,
    event,
    resolve_item,
    resolve_warehouse,
)

REASON_MAX = 200


@dataclass
class Change:
    """One lot changed by one movement (for alerts: did the street's available stock change?)."""

    lot: StockLot
    delta: int


def available_q(today=None, prefix: str = "") -> Q:
    """Lots that can be drawn and used now: in good condition and not past their expiry date."""
    today = today or timezone.localdate()
    return Q(**{f"{prefix}condition": Condition.GOOD}) & (
        Q(**{f"{prefix}expiry_date__isnull": True}) | Q(**{f"{prefix}expiry_date__gte": today}))


def is_available(lot: StockLot, today=None) -> bool:
    today = today or timezone.localdate()
    return lot.condition == Condition.GOOD and (lot.expiry_date is None or lot.expiry_date >= today)


def balance(warehouse_id: int, item_id: int) -> int:
    """Everything a warehouse holds of an item, all batches and conditions."""
    return StockLot.objects.filter(warehouse_id=warehouse_id, item_id=item_id).aggregate(t=Sum("quantity"))["t"] or 0


def _lock(*warehouses: Warehouse) -> None:
    ids = sorted({w.pk for w in warehouses})
    list(Warehouse.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


_user = user_or_none
_actor_name = actor_label


def _lot(warehouse: Warehouse, item: MaterialItem, batch: str, condition: str, expiry) -> StockLot:
    lot = StockLot.objects.filter(warehouse=warehouse, item=item, batch=batch, condition=condition).first()
    if lot is None:
        lot = StockLot(warehouse=warehouse, item=item, batch=batch, condition=condition, expiry_date=expiry)
        lot.save()
    elif expiry and lot.expiry_date != expiry:
        if lot.expiry_date is not None and lot.quantity > 0:
            raise ValidationFailed(
                f"批次「{batch or '（无批次）'}」已有有效期 {lot.expiry_date:%Y-%m-%d}，与 {expiry:%Y-%m-%d} 不一致，"
                "请使用新的批次号 / this batch already has another expiry date: use a new batch", field="expiry_date")
        lot.expiry_date = expiry
        lot.save(update_fields=["expiry_date", "updated_at"])
    return lot


def _take(lot: StockLot, quantity: int) -> None:
    """Decrement a lot, or refuse: the update only matches while enough is left (never below zero)."""
    done = StockLot.objects.filter(pk=lot.pk, quantity__gte=quantity).update(
        quantity=F("quantity") - quantity, updated_at=timezone.now())
    if done != 1:
        raise Conflict(f"库存不足：{lot.item.name} 批次「{lot.batch or '—'}」数量已变化，请刷新后重试 / "
                       "not enough stock left in this lot; reload and try again")
    lot.quantity -= quantity


def _put(lot: StockLot, quantity: int) -> None:
    StockLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") + quantity, updated_at=timezone.now())
    lot.quantity += quantity


def plan_draw(warehouse: Warehouse, item: MaterialItem, quantity: int, *, batch: str | None = None,
              condition: str = Condition.GOOD) -> list[tuple[StockLot, int]]:
    """Which lots to draw `quantity` from: the named batch, or first expiry first over usable lots."""
    lots = StockLot.objects.filter(warehouse=warehouse, item=item, condition=condition, quantity__gt=0)
    if batch is not None:
        lots = lots.filter(batch=batch)
    elif condition == Condition.GOOD:
        lots = lots.filter(available_q())
    lots = list(lots.select_related("item").order_by(F("expiry_date").asc(nulls_last=True), "batch", "pk"))
    have = sum(lot.quantity for lot in lots)
    if have < quantity:
        which = f"批次「{batch}」" if batch else "可用"
        raise Conflict(f"库存不足：「{warehouse.name}」{item.name}{which}库存 {have}{item.unit}，需要 {quantity}{item.unit}"
                       f" / not enough stock: {have} available, {quantity} requested", field="quantity")
    plan, left = [], quantity
    for lot in lots:
        if left == 0:
            break
        part = min(left, lot.quantity)
        plan.append((lot, part))
        left -= part
    return plan


def _movement(*, warehouse, item, lot, kind, quantity, reason, actor, at, counterpart=None, transfer_ref="",
              incident_ref="", count=None) -> Movement:
    row = Movement(warehouse=warehouse, item=item, lot=lot, kind=kind, quantity=quantity,
                   balance_after=balance(warehouse.pk, item.pk), counterpart=counterpart, transfer_ref=transfer_ref,
                   incident_ref=incident_ref, count=count, reason=reason, actor=_user(actor),
                   actor_name=_actor_name(actor), at=at)
    row.save()
    return row


def _finish(*, actor, action: str, warehouse: Warehouse, item: MaterialItem, before: int, movements: list[Movement],
            reason: str, changes: list[Change], extra: dict | None = None) -> None:
    after = balance(warehouse.pk, item.pk)
    data = {"item": item.code, "reason": reason, "movements": [m.pk for m in movements],
            "quantity": sum(m.quantity for m in movements), **(extra or {})}
    audit(actor=actor, action=action, target=warehouse, before={"item": item.code, "balance": before},
          after={"item": item.code, "balance": after}, data=data)
    event("materials.moved", aggregate=warehouse, payload={
        "warehouse": warehouse.code, "item": item.code, "kinds": sorted({m.kind for m in movements}),
        "quantity": data["quantity"], "balance": after, "movements": data["movements"],
        "incident_ref": (extra or {}).get("incident_ref", "")})
    alerts.after_changes(warehouse, item, changes, actor=actor)


def receive(*, actor, warehouse, item, quantity, reason: str = "入库", batch: str = "", expiry_date=None,
            condition: str = Condition.GOOD) -> list[Movement]:
    """入库: add stock to a lot (created when new)."""
    with transaction.atomic():
        wh = resolve_warehouse(actor, warehouse)
        check_can(actor, "materials.change", wh)
        item = resolve_item(item)
        quantity = clean_quantity(quantity)
        reason = clean_text(reason, "reason", REASON_MAX, required=True, label="事由")
        batch = clean_text(batch, "batch", 32, label="批次")
        expiry = clean_date(expiry_date, "expiry_date", "有效期")
        if condition not in Condition.values:
            raise ValidationFailed("物资状态须为 完好/待修/报废 / unknown condition", field="condition")
        _lock(wh)
        before = balance(wh.pk, item.pk)
        lot = _lot(wh, item, batch, condition, expiry)
        _put(lot, quantity)
        moved = [_movement(warehouse=wh, item=item, lot=lot, kind=MovementKind.IN, quantity=quantity, reason=reason,
                           actor=actor, at=timezone.now())]
        _finish(actor=actor, action="materials.receive", warehouse=wh, item=item, before=before, movements=moved,
                reason=reason, changes=[Change(lot, quantity)])
        return moved


def _draw(*, actor, warehouse, item, quantity, reason, batch, kind, action, incident_ref="") -> list[Movement]:
    with transaction.atomic():
        wh = resolve_warehouse(actor, warehouse)
        check_can(actor, "materials.change", wh)
        item = resolve_item(item)
        quantity = clean_quantity(quantity)
        reason = clean_text(reason, "reason", REASON_MAX, required=True, label="事由")
        batch = None if batch in (None, "") else clean_text(batch, "batch", 32)
        _lock(wh)
        before = balance(wh.pk, item.pk)
        at, moved, changes = timezone.now(), [], []
        for lot, part in plan_draw(wh, item, quantity, batch=batch):
            _take(lot, part)
            changes.append(Change(lot, -part))
            moved.append(_movement(warehouse=wh, item=item, lot=lot, kind=kind, quantity=-part, reason=reason,
                                   actor=actor, at=at, incident_ref=incident_ref))
        _finish(actor=actor, action=action, warehouse=wh, item=item, before=before, movements=moved, reason=reason,
                changes=changes, extra={"incident_ref": incident_ref} if incident_ref else None)
        return moved


def draw(*, actor, warehouse, item, quantity, reason, batch: str | None = None) -> list[Movement]:
    """出库: take stock out (first expiry first, or from the named batch)."""
    return _draw(actor=actor, warehouse=warehouse, item=item, quantity=quantity, reason=reason, batch=batch,
                 kind=MovementKind.OUT, action="materials.draw")


def issue_to_incident(*, actor, warehouse, item, quantity, incident_ref="", note: str = "",
                      batch: str | None = None) -> list[Movement]:
    """出库至险情: draw stock for an incident (险情), named by `incident_ref` (the rescue app's reference)."""
    ref = clean_text(incident_ref, "incident_ref", 64, label="险情编号")
    reason = clean_text(note, "note", REASON_MAX) or (f"出库至险情 {ref}" if ref else "出库至险情")
    return _draw(actor=actor, warehouse=warehouse, item=item, quantity=quantity, reason=reason, batch=batch,
                 kind=MovementKind.ISSUE, action="materials.issue", incident_ref=ref)


def transfer(*, actor, source, destination, item, quantity, reason, batch: str | None = None) -> list[Movement]:
    """调拨: out of one warehouse and into another in one transaction (batch, condition and expiry travel along)."""
    with transaction.atomic():
        src = resolve_warehouse(actor, source)
        dst = resolve_warehouse(actor, destination)
        if src.pk == dst.pk:
            raise ValidationFailed("调出与调入仓库不能相同 / source and destination are the same", field="destination")
        check_can(actor, "materials.change", src)
        if not dst.is_active:
            raise ValidationFailed("调入仓库已停用 / the destination warehouse is not active", field="destination")
        item = resolve_item(item)
        quantity = clean_quantity(quantity)
        reason = clean_text(reason, "reason", REASON_MAX, required=True, label="事由")
        batch = None if batch in (None, "") else clean_text(batch, "batch", 32)
        _lock(src, dst)
        before_src, before_dst = balance(src.pk, item.pk), balance(dst.pk, item.pk)
        ref, at = uuid.uuid4().hex, timezone.now()
        out_rows, in_rows, out_changes, in_changes = [], [], [], []
        for lot, part in plan_draw(src, item, quantity, batch=batch):
            _take(lot, part)
            out_changes.append(Change(lot, -part))
            out_rows.append(_movement(warehouse=src, item=item, lot=lot, kind=MovementKind.TRANSFER_OUT, quantity=-part,
                                      reason=reason, actor=actor, at=at, counterpart=dst, transfer_ref=ref))
            target = _lot(dst, item, lot.batch, lot.condition, lot.expiry_date)
            _put(target, part)
            in_changes.append(Change(target, part))
            in_rows.append(_movement(warehouse=dst, item=item, lot=target, kind=MovementKind.TRANSFER_IN, quantity=part,
                                     reason=reason, actor=actor, at=at, counterpart=src, transfer_ref=ref))
        extra = {"transfer_ref": ref, "from": src.code, "to": dst.code}
        _finish(actor=actor, action="materials.transfer_out", warehouse=src, item=item, before=before_src,
                movements=out_rows, reason=reason, changes=out_changes, extra=extra)
        _finish(actor=actor, action="materials.transfer_in", warehouse=dst, item=item, before=before_dst,
                movements=in_rows, reason=reason, changes=in_changes, extra=extra)
        return out_rows + in_rows


def change_condition(*, actor, warehouse, item, quantity, to_condition: str, reason: str, batch: str | None = None,
                     from_condition: str = Condition.GOOD) -> list[Movement]:
    """状态变更: move units between 完好, 待修 and 报废 within one warehouse (e.g. a pump back from use, broken)."""
    if to_condition not in Condition.values or from_condition not in Condition.values or to_condition == from_condition:
        raise ValidationFailed("请选择不同的物资状态 / choose a different condition", field="to_condition")
    with transaction.atomic():
        wh = resolve_warehouse(actor, warehouse)
        check_can(actor, "materials.change", wh)
        item = resolve_item(item)
        quantity = clean_quantity(quantity)
        reason = clean_text(reason, "reason", REASON_MAX, required=True, label="事由")
        batch = None if batch in (None, "") else clean_text(batch, "batch", 32)
        _lock(wh)
        before = balance(wh.pk, item.pk)
        at, moved, changes = timezone.now(), [], []
        for lot, part in plan_draw(wh, item, quantity, batch=batch, condition=from_condition):
            _take(lot, part)
            changes.append(Change(lot, -part))
            moved.append(_movement(warehouse=wh, item=item, lot=lot, kind=MovementKind.CONDITION, quantity=-part,
                                   reason=reason, actor=actor, at=at))
            target = _lot(wh, item, lot.batch, to_condition, lot.expiry_date)
            _put(target, part)
            changes.append(Change(target, part))
            moved.append(_movement(warehouse=wh, item=item, lot=target, kind=MovementKind.CONDITION, quantity=part,
                                   reason=reason, actor=actor, at=at))
        _finish(actor=actor, action="materials.condition", warehouse=wh, item=item, before=before, movements=moved,
                reason=reason, changes=changes, extra={"from": from_condition, "to": to_condition})
        return moved


KINDS = {"in": "receive", "out": "draw", "issue": "issue", "transfer": "transfer", "condition": "condition"}


def record_movement(*, actor, kind: str, warehouse, item, quantity, reason: str = "", batch: str = "",
                    expiry_date=None, destination=None, incident_ref: str = "", to_condition: str = "",
                    condition: str = Condition.GOOD) -> list[Movement]:
    """One entry point for forms and the API: dispatch on `kind` to the service of that movement."""
    if kind == "in":
        return receive(actor=actor, warehouse=warehouse, item=item, quantity=quantity, reason=reason or "入库",
                       batch=batch, expiry_date=expiry_date, condition=condition or Condition.GOOD)
    if kind == "out":
        return draw(actor=actor, warehouse=warehouse, item=item, quantity=quantity, reason=reason, batch=batch or None)
    if kind == "issue":
        return issue_to_incident(actor=actor, warehouse=warehouse, item=item, quantity=quantity,
                                 incident_ref=incident_ref, note=reason, batch=batch or None)
    if kind == "transfer":
        if destination in (None, ""):
            raise ValidationFailed("请选择调入仓库 / choose the destination warehouse", field="destination")
        return transfer(actor=actor, source=warehouse, destination=destination, item=item, quantity=quantity,
                        reason=reason, batch=batch or None)
    if kind == "condition":
        return change_condition(actor=actor, warehouse=warehouse, item=item, quantity=quantity,
                                to_condition=to_condition, reason=reason, batch=batch or None,
                                from_condition=condition or Condition.GOOD)
    raise ValidationFailed("未知的出入库类型（in/out/issue/transfer/condition） / unknown movement kind", field="kind")


def _finish_count(*, actor, warehouse, item, before: int, changes: list[Change], count, movements) -> None:
    """Audit, event and alerts for one item adjusted by a confirmed count."""
    _finish(actor=actor, action="materials.adjust", warehouse=warehouse, item=item, before=before,
            movements=movements, reason=f"盘点调整（盘点 {count.pk}）", changes=changes, extra={"count": count.pk})
