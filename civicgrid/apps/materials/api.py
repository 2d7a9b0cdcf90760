"""Materials API under /api/v1/materials/…: catalogue, warehouses, stock, movements, counts, shortages, expiry,
the nearest-stock finder, the ledger export and the stock import. Handlers parse, call a service or selector,
and shape the answer; every read starts from the scoped path."""

from __future__ import annotations

from django.http import JsonResponse
from ninja import File, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import get_visible_or_404, has_capability
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.api_json import documented_enum
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pagination import Limit, Offset, page

from . import selectors, services
from .models import Condition, Group, Level, MaterialItem, Movement, MovementKind, StockCount, Warehouse
from .schemas import (
    MaterialsCountEntriesIn,
    MaterialsCountListOut,
    MaterialsCountOut,
    MaterialsCountStartIn,
    MaterialsImportOut,
    MaterialsItemIn,
    MaterialsItemListOut,
    MaterialsItemOut,
    MaterialsLotListOut,
    MaterialsMovementIn,
    MaterialsMovementListOut,
    MaterialsMovementResultOut,
    MaterialsNearestBatchIn,
    MaterialsNearestBatchOut,
    MaterialsNearestListOut,
    MaterialsShortageListOut,
    MaterialsShortageOut,
    MaterialsTargetIn,
    MaterialsWarehouseDetailOut,
    MaterialsWarehouseIn,
    MaterialsWarehouseListOut,
    MaterialsWarehouseOut,
)
from .services.common import resolve_item, resolve_warehouse
from .services.ledger import export_ledger, lots_for_export

router = Router(tags=["materials"])
PREFIX = "/materials"


def _need_view(user) -> None:
    if not has_capability(user, "materials.view"):
        raise PermissionDenied("您无权查看应急物资 / you may not view emergency materials")


def _code(value: str | None) -> str:
    value = (value or "").strip()
    return value if value.isdigit() and 6 <= len(value) <= 15 else ""


# ---- shaping -----------------------------------------------------------------------------------------------

def item_out(item: MaterialItem) -> dict:
    return {"id": item.pk, "code": item.code, "name": item.name, "unit": item.unit, "group": item.group,
            "group_label": item.get_group_display(), "grade": item.grade, "spec": item.spec,
            "tracks_expiry": item.tracks_expiry, "is_active": item.is_active}


def warehouse_out(wh: Warehouse) -> dict:
    wh.load_patron()
    return {"id": wh.pk, "code": wh.code, "name": wh.name, "level": wh.level, "level_label": wh.get_level_display(),
            "region_code": wh.region_code, "street_code": wh.street_code,
            "department": wh.department.name if wh.department_id else None,
            "patron_department": wh.patron_department_name, "patron_department_id": wh.patron_department_id,
            "address": wh.address, "lat": wh.lat,
            "lng": wh.lng, "keeper": wh.keeper, "keeper_phone": wh.keeper_phone_masked, "is_active": wh.is_active,
            "is_demo": wh.is_demo}


def lot_out(lot) -> dict:
    return {"id": lot.pk, "warehouse": lot.warehouse.code, "warehouse_name": lot.warehouse.name,
            "item": lot.item.code, "item_name": lot.item.name, "unit": lot.item.unit, "batch": lot.batch,
            "condition": lot.condition, "expiry_date": lot.expiry_date, "quantity": lot.quantity,
            "updated_at": lot.updated_at, **_patron_of(lot)}


def _patron_of(row) -> dict:
    """The 包保 department of the row's street, as `with_patron()` read it (in the list's own query)."""
    return {"patron_department": getattr(row, "patron_department_name", None),
            "patron_department_id": getattr(row, "patron_department_id", None)}


def _name_patrons(movements: list) -> list:
    """Movements fresh from a service (read without `with_patron()`): their 包保 departments in one query."""
    found = {pk: (dept_id, name) for pk, dept_id, name in
             Movement.objects.filter(pk__in=[m.pk for m in movements]).with_patron()
             .values_list("pk", "patron_department_id", "patron_department_name")}
    for m in movements:
        m.patron_department_id, m.patron_department_name = found.get(m.pk, (None, None))
    return movements


def movement_out(m) -> dict:
    return {"id": m.pk, "warehouse": m.warehouse.code, "item": m.item.code, "kind": m.kind,
            "kind_label": m.get_kind_display(), "quantity": m.quantity, "balance_after": m.balance_after,
            "batch": m.lot.batch, "condition": m.lot.condition,
            "counterpart": m.counterpart.code if m.counterpart_id else None, "transfer_ref": m.transfer_ref,
            "incident_ref": m.incident_ref, "reason": m.reason, "actor_name": m.actor_name, "at": m.at,
            **_patron_of(m)}


def shortage_out(s) -> dict:
    t = s.target
    return {"id": t.pk, "street_code": t.region_code, "street": t.street.name, "item": t.item.code,
            "item_name": t.item.name, "unit": t.item.unit, "min_quantity": t.min_quantity, "held": s.held,
            "missing": s.missing, "department": t.department.name if t.department_id else None,
            "patron_department": getattr(t, "patron_department_name", None)}


def count_out(count: StockCount) -> dict:
    lines = [{"id": line.pk, "item": line.item.code, "item_name": line.item.name, "batch": line.batch,
              "condition": line.condition, "expected": line.expected, "counted": line.counted,
              "difference": line.difference} for line in count.lines.select_related("item")]
    return {"id": count.pk, "warehouse": count.warehouse.code, "status": count.status, "note": count.note,
            "started_at": count.started_at, "confirmed_at": count.confirmed_at, "lines": lines}


def _paged(qs, limit: int, offset: int, shape) -> dict:
    items, total = page(qs, limit=limit, offset=offset)
    return {"items": [shape(x) for x in items], "count": len(items), "total": total}


# ---- catalogue ---------------------------------------------------------------------------------------------

@router.get("/items", response={200: MaterialsItemListOut, **errors(401, 403, 422)}, url_name="materials_item_list")
def list_items(request, group: documented_enum(Group.values, "the catalogue group", blank=True) = "", active: bool = True, limit: Limit = 200, offset: Offset = 0):
    """物资目录: the catalogue (district-wide reference data)."""
    _need_view(request.user)
    qs = MaterialItem.objects.all()
    if group:
        qs = qs.filter(group=group[:16])
    if active:
        qs = qs.filter(is_active=True)
    return _paged(qs.order_by("group", "grade", "code"), limit, offset, item_out)


@router.post("/items", response={201: MaterialsItemOut, **errors(400, 401, 403, 422)}, url_name="materials_item_save")
def save_item(request, payload: MaterialsItemIn):
    """Add or change a catalogue item (by code): `materials.manage` with a district-wide grant."""
    return Status(201, item_out(services.save_item(actor=request.user, **payload.dict())))


# ---- warehouses --------------------------------------------------------------------------------------------

@router.get("/warehouses", response={200: MaterialsWarehouseListOut, **errors(400, 401, 422)},
            url_name="materials_warehouse_list")
def list_warehouses(request, region: str = "", level: documented_enum(Level.values, "a warehouse level", blank=True) = "",
                    q: str = "", limit: Limit = 100, offset: Offset = 0):
    """Warehouses in your scope (and those above it, read-only); filters: region code, level, q."""
    qs = selectors.warehouse_list(request.user, region=_code(region), level=level[:16], q=q[:40])
    return _paged(qs, limit, offset, warehouse_out)


@router.post("/warehouses", response={201: MaterialsWarehouseOut, **errors(400, 401, 403, 404, 422)},
             url_name="materials_warehouse_save")
def save_warehouse(request, payload: MaterialsWarehouseIn):
    """Add or change a warehouse (by code): `materials.manage` over its region."""
    return Status(201, warehouse_out(services.save_warehouse(actor=request.user, **payload.dict())))


@router.get("/warehouses/{pk}", response={200: MaterialsWarehouseDetailOut, **errors(401, 404, 422)},
            url_name="materials_warehouse_detail")
def get_warehouse(request, pk: int):
    """One warehouse with its holdings per item (usable, under repair, scrapped, expired, total)."""
    wh = get_visible_or_404(Warehouse.objects.select_related("department").with_patron(), request.user, "view",
                            pk=pk)
    holdings = [{"item": h["item"].code, "name": h["item"].name, "unit": h["item"].unit,
                 **{k: h[k] for k in ("usable", "repair", "scrapped", "expired", "total")}}
                for h in selectors.warehouse_summary(wh)]
    return {**warehouse_out(wh), "holdings": holdings}


# ---- stock and movements -----------------------------------------------------------------------------------

def _item_or_none(code: str):
    return resolve_item(code) if code else None


def _warehouse_or_none(user, value: str):
    return resolve_warehouse(user, value) if value else None


@router.get("/stock", response={200: MaterialsLotListOut, **errors(400, 401, 403, 404, 422)},
            url_name="materials_stock_list")
def list_stock(request, warehouse: str = "", item: str = "", region: str = "",
               condition: documented_enum(Condition.values, "a lot's condition", blank=True) = "",
               limit: Limit = 200, offset: Offset = 0):
    """Stock lots (warehouse × item × batch × condition) in your scope."""
    _need_view(request.user)
    qs = selectors.stock_list(request.user, warehouse=_warehouse_or_none(request.user, warehouse),
                              item=_item_or_none(item), region=_code(region), condition=condition[:16])
    return _paged(qs, limit, offset, lot_out)


@router.get("/expiring", response={200: MaterialsLotListOut, **errors(401, 403, 422)}, url_name="materials_expiring")
def list_expiring(request, days: int = 30, limit: Limit = 200, offset: Offset = 0):
    """Lots expiring within `days` (and those already expired), soonest first."""
    _need_view(request.user)
    return _paged(selectors.expiring(request.user, days=days), limit, offset, lot_out)


@router.get("/movements", response={200: MaterialsMovementListOut, **errors(400, 401, 403, 404, 422)},
            url_name="materials_movement_list")
def list_movements(request, warehouse: str = "", item: str = "",
                   kind: documented_enum(MovementKind.values, "a movement kind", blank=True) = "", incident_ref: str = "",
                   limit: Limit = 100, offset: Offset = 0):
    """出入库记录 in your scope, newest first."""
    _need_view(request.user)
    qs = selectors.movement_list(request.user, warehouse=_warehouse_or_none(request.user, warehouse),
                                 item=_item_or_none(item), kind=kind[:16], incident_ref=incident_ref)
    return _paged(qs, limit, offset, movement_out)


@router.post("/movements", response={201: MaterialsMovementResultOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="materials_movement_create")
def create_movement(request, payload: MaterialsMovementIn):
    """Record a movement: `in` (入库), `out` (出库), `issue` (出库至险情, with `incident_ref`), `transfer` (调拨, with
    `destination`) or `condition` (完好/待修/报废). 409 when stock is short; nothing changes on any refusal."""
    rows = _name_patrons(services.record_movement(actor=request.user, **payload.dict()))
    return Status(201, {"items": [movement_out(m) for m in rows], "count": len(rows)})


# ---- shortages, targets, nearest ---------------------------------------------------------------------------

@router.get("/shortages", response={200: MaterialsShortageListOut, **errors(400, 401, 403, 422)},
            url_name="materials_shortage_list")
def list_shortages(request, street: str = "", item: str = "", all: bool = False, limit: Limit = 200,  # noqa: A002
                   offset: Offset = 0):
    """Streets below their targets (储备定额), shortest first; `all=true` lists every target with its holding."""
    _need_view(request.user)
    rows = selectors.target_status(request.user, street=_code(street), item=_item_or_none(item), only_short=not all)
    limit, offset = max(1, min(limit, 1000)), max(0, offset)
    chunk = rows[offset:offset + limit]
    return {"items": [shortage_out(s) for s in chunk], "count": len(chunk), "total": len(rows)}


@router.post("/targets", response={201: MaterialsShortageOut, **errors(400, 401, 403, 422)},
             url_name="materials_target_set")
def set_target(request, payload: MaterialsTargetIn):
    """Set a street's target for an item (`materials.manage` over the street)."""
    target = services.set_target(actor=request.user, **payload.dict())
    status = selectors.target_status(request.user, street=target.region_code, item=target.item, only_short=False)
    return Status(201, shortage_out(next(s for s in status if s.target.pk == target.pk)))


@router.get("/nearest", response={200: MaterialsNearestListOut, **errors(400, 401, 403, 404, 422)},
            url_name="materials_nearest")
def nearest(request, item: str, quantity: int = 1, hazard: int | None = None, lat: float | None = None,
            lng: float | None = None, limit: int = 5):
    """The nearest warehouses (in your scope) holding at least `quantity` usable units of `item`, for a hazard
    point (`hazard=<id>`, one you may see) or a point (`lat`, `lng`, WGS-84); distances in metres."""
    _need_view(request.user)
    if hazard is not None:
        from civicgrid.apps.hazards.models import Hazard

        if not 0 < hazard < 2**63:
            raise NotFound("未找到该隐患点 / hazard not found")
        point = get_visible_or_404(Hazard.objects.only("lat", "lng", "region_code"), request.user, "view", pk=hazard)
        lat, lng = point.lat, point.lng
    if lat is None or lng is None:
        raise ValidationFailed("请给出隐患点 hazard 或位置 lat/lng / give hazard or lat and lng", field="lat")
    if quantity < 1:
        raise ValidationFailed("数量须大于 0 / quantity must be positive", field="quantity")
    found = selectors.nearest_warehouses(lat, lng, item, quantity, limit, user=request.user)
    return {"items": [vars(n) for n in found], "count": len(found), "item": item, "quantity": quantity,
            "lat": lat, "lng": lng}


MAX_BATCH_POINTS = 10_000


@router.post("/nearest/batch", response={200: MaterialsNearestBatchOut, **errors(400, 401, 403, 404, 422)},
             url_name="materials_nearest_batch")
def nearest_batch(request, payload: MaterialsNearestBatchIn):
    """The nearest-warehouses answer for many points at once (up to 10,000 points and/or hazard ids): one query
    for the candidate warehouses, distances computed together. Only warehouses (and hazards) you may see."""
    _need_view(request.user)
    if payload.quantity < 1:
        raise ValidationFailed("数量须大于 0 / quantity must be positive", field="quantity")
    points = [(p.ref or str(i), p.lat, p.lng) for i, p in enumerate(payload.points)]
    if payload.hazards:
        from civicgrid.apps.hazards.models import Hazard

        wanted = [h for h in dict.fromkeys(payload.hazards) if 0 < h < 2**63][:MAX_BATCH_POINTS]
        found = {h.pk: h for h in Hazard.objects.visible_to(request.user, "view").filter(pk__in=wanted)
                 .only("pk", "code", "lat", "lng")}
        missing = [h for h in wanted if h not in found]
        if missing:
            raise NotFound(f"未找到隐患点，或不在您的权限范围内：{missing[:10]} / hazards not found")
        points += [(found[h].code, found[h].lat, found[h].lng) for h in wanted]
    if not points or len(points) > MAX_BATCH_POINTS:
        raise ValidationFailed(f"请给出 1 至 {MAX_BATCH_POINTS} 个点 / give 1 to {MAX_BATCH_POINTS} points",
                               field="points")
    for _, lat, lng in points:
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValidationFailed("经纬度超出范围 / lat/lng out of range", field="points")
    idx, dist, rows = selectors.nearest_many([p[1] for p in points], [p[2] for p in points], payload.item,
                                             payload.quantity, payload.limit, user=request.user)
    keys = ("id", "code", "name", "level", "region_code", "lat", "lng", "available")
    shaped = [dict(zip(keys, (r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7])), strict=True)) for r in rows]
    dist = dist.round(1).tolist()
    items = [{"ref": ref, "lat": lat, "lng": lng,
              "warehouses": [{**shaped[j], "distance_m": d} for j, d in zip(idx[i].tolist(), dist[i], strict=True)]}
             for i, (ref, lat, lng) in enumerate(points)]
    # Shaped here from plain values (the schema documents it): validating 50,000 nested objects again would
    # cost more than finding them.
    return JsonResponse({"items": items, "count": len(items), "item": payload.item, "quantity": payload.quantity})


# ---- stock counts ------------------------------------------------------------------------------------------

@router.get("/counts", response={200: MaterialsCountListOut, **errors(400, 401, 403, 404, 422)},
            url_name="materials_count_list")
def list_counts(request, warehouse: str = "", limit: Limit = 50, offset: Offset = 0):
    """Stock counts (盘点) in your scope, newest first."""
    _need_view(request.user)
    qs = selectors.count_list(request.user, warehouse=_warehouse_or_none(request.user, warehouse))
    return _paged(qs, limit, offset, lambda c: {"id": c.pk, "warehouse": c.warehouse.code, "status": c.status,
                                                "note": c.note, "started_at": c.started_at,
                                                "confirmed_at": c.confirmed_at})


@router.post("/counts", response={201: MaterialsCountOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="materials_count_start")
def start_count(request, payload: MaterialsCountStartIn):
    """Open a count of a warehouse: every lot with its expected quantity."""
    count = services.start_count(actor=request.user, warehouse=payload.warehouse, note=payload.note)
    return Status(201, count_out(count))


@router.get("/counts/{pk}", response={200: MaterialsCountOut, **errors(401, 404, 422)},
            url_name="materials_count_detail")
def get_count(request, pk: int):
    """A count with its lines: expected, counted and the difference."""
    return count_out(get_visible_or_404(StockCount.objects.select_related("warehouse"), request.user, "view", pk=pk))


@router.post("/counts/{pk}/lines", response={200: MaterialsCountOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="materials_count_enter")
def enter_counts(request, pk: int, payload: MaterialsCountEntriesIn):
    """Enter counted quantities (by line id, or by item/batch/condition for lots the system did not know)."""
    count = services.enter_counts(actor=request.user, count=pk, lines=[e.dict() for e in payload.lines])
    return count_out(count)


@router.post("/counts/{pk}/confirm", response={200: MaterialsCountOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="materials_count_confirm")
def confirm_count(request, pk: int):
    """Confirm: every difference becomes an adjusting movement, all or nothing."""
    return count_out(services.confirm_count(actor=request.user, count=pk))


# ---- ledger export and stock import ------------------------------------------------------------------------

@router.get("/ledger.xlsx", url_name="materials_ledger_export", response={200: None, **errors(400, 401, 403, 404, 422)})
def ledger_export(request, warehouse: str = "", region: str = ""):
    """物资台账 (XLSX, one row per lot) of your scope, or of one warehouse or region."""
    _need_view(request.user)
    lots = lots_for_export(request.user, warehouse=_warehouse_or_none(request.user, warehouse), region=_code(region))
    return file_response(export_ledger(actor=request.user, lots=lots), "materials-ledger.xlsx", XLSX_TYPE)


@router.post("/import", response={201: MaterialsImportOut, **errors(400, 401, 422)}, url_name="materials_import")
def import_stock(request, file: File[UploadedFile]):
    """Import stock (入库 per row) from XLSX or CSV: 仓库编码, 物资编码, 数量 [, 批次, 状态, 有效期至, 事由]. All or
    nothing: any row error refuses the file with the list of errors (`errors`: row, field, message)."""
    return Status(201, services.import_stock(actor=request.user, data=file.read(), filename=file.name or ""))


data_endpoint("api:materials_warehouse_list", "materials.Warehouse", "list")
data_endpoint("api:materials_warehouse_detail", "materials.Warehouse", "detail")
data_endpoint("api:materials_stock_list", "materials.StockLot", "list")
data_endpoint("api:materials_expiring", "materials.StockLot", "list")
data_endpoint("api:materials_movement_list", "materials.Movement", "list")
data_endpoint("api:materials_shortage_list", "materials.StockTarget", "list")
data_endpoint("api:materials_count_list", "materials.StockCount", "list")
data_endpoint("api:materials_count_detail", "materials.StockCount", "detail")
data_endpoint("api:materials_ledger_export", "materials.StockLot", "export")
# The finder needs a point and an item, so the contract's bare call cannot list rows: it checks status and
# leaked markers; the finder's scope (only warehouses the caller may see) is tested in the app's tests.
data_endpoint("api:materials_nearest", "materials.Warehouse", "detail")
# The catalogue is district-wide reference data (names and units of kinds of material), not regional records.
non_data_endpoint("api:materials_item_list")
# Many points in one POST body (the contract's walker sends none): only warehouses and hazards the caller may see,
# tested in the app's API tests.
non_data_endpoint("api:materials_nearest_batch")
# Writes: scope and capability are enforced by the services (404 outside scope, 403 without the capability).
non_data_endpoint("api:materials_item_save", "api:materials_warehouse_save", "api:materials_movement_create",
                  "api:materials_target_set", "api:materials_count_start", "api:materials_count_enter",
                  "api:materials_count_confirm", "api:materials_import")
