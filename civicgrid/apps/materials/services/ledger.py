"""Stock import from XLSX/CSV (all or nothing, with row errors) and the stock ledger (物资台账) export.

The import reads one 入库 per row: 仓库编码, 物资编码, 数量 (required), 批次, 状态, 有效期至, 事由 (optional); the
export's columns include these, so an exported ledger can be edited and imported into another system. Every
row is checked first (warehouse in the importer's scope and changeable by them, known item, whole positive
quantity, condition, date); any error refuses the whole file with the list of row errors, and nothing changes.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.core.errors import CivicgridError, ValidationFailed
from civicgrid.foundation.core.office_xlsx import official_language
from civicgrid.foundation.imports.readers import TableError, read_table, write_xlsx

from ..models import Condition, StockLot
from .common import audit, check_can, clean_date, clean_quantity, clean_text, resolve_item, resolve_warehouse
from .stock import receive

COLUMNS = {"warehouse": "仓库编码", "item": "物资编码", "quantity": "数量", "batch": "批次", "condition": "状态",
           "expiry_date": "有效期至", "reason": "事由"}
REQUIRED = ("warehouse", "item", "quantity")
CONDITION_BY_LABEL = {str(label): value for value, label in Condition.choices} | {v: v for v in Condition.values}
LEDGER_HEADERS = ("id", "仓库编码", "仓库名称", "层级", "所属区域代码", "主管部门", "包保部门", "物资编码", "物资名称",
                  "类别", "分级", "单位", "批次", "状态", "有效期至", "数量", "更新时间")
MAX_ROWS = 20000


def import_stock(*, actor, data: bytes, filename: str = "") -> dict:
    """Receive every row of the file, or none; returns {"rows": n, "movements": n}."""
    try:
        table = read_table(data, filename)
    except TableError as exc:
        raise ValidationFailed(exc.message, field="file") from None
    with table:
        missing = [COLUMNS[k] for k in REQUIRED if COLUMNS[k] not in table.headers]
        if missing:
            raise ValidationFailed(f"缺少列：{'、'.join(missing)} / missing columns", field="file")
        errors, rows = [], []
        try:
            for number, cells in table.rows:
                if len(rows) + len(errors) >= MAX_ROWS:
                    raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 行 / at most {MAX_ROWS} rows", field="file")
                try:
                    rows.append((number, _row(actor, cells)))
                except CivicgridError as exc:
                    errors.append({"row": number, "field": COLUMNS.get(exc.field or "", exc.field or ""),
                                   "message": exc.message})
        except TableError as exc:
            raise ValidationFailed(exc.message, field="file") from None
    if errors:
        raise ValidationFailed(f"{len(errors)} 行有误，未导入任何数据 / {len(errors)} rows are wrong; nothing was "
                               "imported", details=errors)
    if not rows:
        raise ValidationFailed("文件中没有数据行 / the file has no data rows", field="file")
    moved = 0
    with transaction.atomic():
        for number, row in rows:
            try:
                moved += len(receive(actor=actor, **row))
            except CivicgridError as exc:  # e.g. a batch whose expiry differs: the whole file is refused
                raise ValidationFailed(f"第 {number} 行：{exc.message}", field="file",
                                       details=[{"row": number, "field": exc.field or "", "message": exc.message}]
                                       ) from None
        audit(actor=actor, action="materials.import", target=None, data={"file": filename[:100], "rows": len(rows)})
    return {"rows": len(rows), "movements": moved}


def _row(actor, cells: dict) -> dict:
    def cell(key):
        return (cells.get(COLUMNS[key]) or "").strip()

    warehouse = resolve_warehouse(actor, cell("warehouse") or "-")
    check_can(actor, "materials.change", warehouse)
    condition = CONDITION_BY_LABEL.get(cell("condition") or "完好")
    if condition is None:
        raise ValidationFailed("状态须为 完好、待修 或 报废 / unknown condition", field="condition")
    return {"warehouse": warehouse, "item": resolve_item(cell("item")),
            "quantity": clean_quantity(cell("quantity").replace(",", "")),
            "batch": clean_text(cell("batch"), "batch", 32, label="批次"), "condition": condition,
            "expiry_date": clean_date(cell("expiry_date"), "expiry_date", "有效期"),
            "reason": clean_text(cell("reason"), "reason", 200, label="事由") or "导入入库"}


def ledger_rows(lots):
    for lot in lots:
        wh, item = lot.warehouse, lot.item
        yield (lot.pk, wh.code, wh.name, wh.get_level_display(), wh.region_code,
               wh.department.name if wh.department_id else "", getattr(lot, "patron_department_name", None) or "",
               item.code, item.name,
               item.get_group_display(), item.grade, item.unit, lot.batch, lot.get_condition_display(),
               lot.expiry_date, lot.quantity, timezone.localtime(lot.updated_at).strftime("%Y-%m-%d %H:%M"))


@official_language
def export_ledger(*, actor, lots) -> bytes:
    """物资台账 as XLSX (one row per lot), recorded in the audit trail."""
    lots = list(lots)
    body = write_xlsx(LEDGER_HEADERS, ledger_rows(lots), sheet_title="物资台账")
    audit(actor=actor, action="materials.export", target=None, data={"rows": len(lots)})
    return body


def lots_for_export(user, *, warehouse=None, region: str = ""):
    from civicgrid.foundation.access.scope import subtree_q

    qs = (StockLot.objects.visible_to(user, "view").select_related("warehouse", "warehouse__department", "item")
          .with_patron().order_by("warehouse__region_code", "warehouse__code", "item__group", "item__code", "batch",
                                  "condition"))
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    if region:
        qs = qs.filter(subtree_q("region_code", region))
    return qs
