"""Stock counts (盘点): open a count of a warehouse, enter counted quantities, confirm all at once.

Opening snapshots every lot (`expected`). Counted quantities may be entered in several sittings and for lots
the system did not know (expected 0). Confirming applies each difference (counted − expected) to the lot as it
stands then, as an adjusting movement (盘点调整) linked to the count: movements recorded while the count was
open are kept, and the count corrects only what it found. Every line must be counted; a difference that would
take a lot below zero refuses the whole confirmation and nothing changes.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.access.scope import get_visible_or_404
from civicgrid.foundation.core.errors import Conflict, NotFound, ValidationFailed

from ..models import Condition, MovementKind, StockCount, StockCountLine, StockLot
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
from .stock import Change, _finish_count, _lock, _lot, _movement, _put, _take, balance


def _count(actor, count, *, lock: bool = False) -> StockCount:
    qs = StockCount.objects.select_related("warehouse", "warehouse__region")
    if lock:
        qs = qs.select_for_update(of=("self",))
    pk = count.pk if isinstance(count, StockCount) else count
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound("未找到该盘点 / stock count not found") from None
    found = get_visible_or_404(qs, actor, "view", pk=pk)
    check_can(actor, "materials.change", found.warehouse)
    return found


def _open(count: StockCount) -> None:
    if count.status != StockCount.Status.OPEN:
        raise Conflict(f"该盘点已{count.get_status_display()}，不能再修改 / this count is closed")


def start_count(*, actor, warehouse, note: str = "") -> StockCount:
    """Open a count of a warehouse (one open count per warehouse), snapshotting every lot."""
    with transaction.atomic():
        wh = resolve_warehouse(actor, warehouse)
        check_can(actor, "materials.change", wh)
        note = clean_text(note, "note", 200, label="说明")
        _lock(wh)
        if StockCount.objects.filter(warehouse=wh, status=StockCount.Status.OPEN).exists():
            raise Conflict("该仓库已有进行中的盘点，请先确认或作废 / a count of this warehouse is already open")
        count = StockCount(warehouse=wh, note=note, started_by=actor)
        count.save()
        lots = StockLot.objects.filter(warehouse=wh).exclude(quantity=0, condition=Condition.SCRAPPED)
        StockCountLine.objects.bulk_create([
            StockCountLine(count=count, item_id=lot.item_id, batch=lot.batch, condition=lot.condition,
                           expiry_date=lot.expiry_date, expected=lot.quantity) for lot in lots])
        audit(actor=actor, action="materials.count_start", target=count, after={"warehouse": wh.code,
                                                                                "lines": len(lots)})
        event("materials.count_started", payload={"count": count.pk, "warehouse": wh.code}, aggregate=count)
        return count


def enter_counts(*, actor, count, lines: list[dict]) -> StockCount:
    """Record counted quantities: each entry names a line (`line`) or a lot (`item`, `batch`, `condition`,
    optional `expiry_date`) and gives `counted` (≥ 0). All entries are checked before any is saved."""
    with transaction.atomic():
        count = _count(actor, count, lock=True)
        _open(count)
        existing = {line.pk: line for line in count.lines.select_related("item")}
        by_key = {(line.item_id, line.batch, line.condition): line for line in existing.values()}
        errors, todo, new = [], [], []
        for index, entry in enumerate(lines, start=1):
            try:
                counted = clean_quantity(entry.get("counted"), "counted", allow_zero=True)
                if entry.get("line") not in (None, ""):
                    line = existing.get(int(entry["line"])) if str(entry["line"]).isdigit() else None
                    if line is None:
                        raise ValidationFailed("不属于本次盘点的行 / line not in this count", field="line")
                    todo.append((line, counted))
                    continue
                item = resolve_item(entry.get("item"))
                batch = clean_text(entry.get("batch"), "batch", 32, label="批次")
                condition = entry.get("condition") or Condition.GOOD
                if condition not in Condition.values:
                    raise ValidationFailed("物资状态须为 完好/待修/报废 / unknown condition", field="condition")
                line = by_key.get((item.pk, batch, condition))
                if line is None:
                    line = StockCountLine(count=count, item=item, batch=batch, condition=condition, expected=0,
                                          expiry_date=clean_date(entry.get("expiry_date"), "expiry_date", "有效期"))
                    by_key[(item.pk, batch, condition)] = line
                    new.append(line)
                todo.append((line, counted))
            except ValidationFailed as exc:
                errors.append({"row": index, "field": exc.field or "", "message": exc.message})
        if errors:
            raise ValidationFailed(f"{len(errors)} 行有误，未保存任何盘点数 / {len(errors)} entries are wrong; nothing "
                                   "was saved", details=errors)
        for line in new:
            line.save()
        for line, counted in todo:
            line.counted = counted
            line.save(update_fields=["counted"])
        audit(actor=actor, action="materials.count_enter", target=count,
              data={"lines": [{"item": line.item_id, "batch": line.batch, "condition": line.condition,
                               "counted": counted} for line, counted in todo]})
        return count


def confirm_count(*, actor, count) -> StockCount:
    """Apply every difference as an adjusting movement and close the count, all or nothing."""
    with transaction.atomic():
        count = _count(actor, count, lock=True)
        _open(count)
        wh = count.warehouse
        _lock(wh)
        lines = list(count.lines.select_related("item"))
        missing = [line for line in lines if line.counted is None]
        if missing:
            names = "、".join(f"{line.item.name}{'（' + line.batch + '）' if line.batch else ''}" for line in missing[:5])
            raise ValidationFailed(f"还有 {len(missing)} 项未盘点（{names}），请先录入实盘数 / {len(missing)} lines "
                                   "are not counted yet", field="lines")
        at, moved, by_item = timezone.now(), [], {}
        for line in lines:
            diff = line.counted - line.expected
            if diff == 0:
                continue
            if line.item_id not in by_item:
                by_item[line.item_id] = (line.item, balance(wh.pk, line.item_id), [])
            before = by_item[line.item_id]
            lot = _lot(wh, line.item, line.batch, line.condition, line.expiry_date)
            if diff < 0:
                if lot.quantity < -diff:
                    raise Conflict(f"{line.item.name}批次「{line.batch or '—'}」现存 {lot.quantity}，盘亏 {-diff} 会使库存"
                                   "为负，未做任何调整 / the count would take this lot below zero; nothing changed")
                _take(lot, -diff)
            else:
                _put(lot, diff)
            before[2].append(Change(lot, diff))
            row = _movement(warehouse=wh, item=line.item, lot=lot, kind=MovementKind.ADJUST, quantity=diff,
                            reason=f"盘点调整（盘点 {count.pk}）", actor=actor, at=at, count=count)
            moved.append(row)
        count.status = StockCount.Status.CONFIRMED
        count.confirmed_by = actor
        count.confirmed_at = at
        count.save(update_fields=["status", "confirmed_by", "confirmed_at"])
        for item, before, changes in by_item.values():
            _finish_count(actor=actor, warehouse=wh, item=item, before=before, changes=changes, count=count,
                          movements=[m for m in moved if m.item_id == item.pk])
        audit(actor=actor, action="materials.count_confirm", target=count,
              data={"movements": [m.pk for m in moved], "differences": len(moved)})
        return count


def cancel_count(*, actor, count, reason: str) -> StockCount:
    """作废 an open count: nothing is adjusted."""
    with transaction.atomic():
        count = _count(actor, count, lock=True)
        _open(count)
        reason = clean_text(reason, "reason", 200, required=True, label="作废原因")
        count.status = StockCount.Status.CANCELLED
        count.note = (f"{count.note}；" if count.note else "") + f"作废：{reason}"
        count.save(update_fields=["status", "note"])
        audit(actor=actor, action="materials.count_cancel", target=count, data={"reason": reason})
        return count
