"""The catalogue (物资目录), warehouses and per-street targets (储备定额): `materials.manage`.

Catalogue items are district-wide: changing them needs a district-level grant. Warehouses and targets are
managed within the manager's region (street staff for their street, the command centre for all).
"""

from __future__ import annotations

from django.db import transaction

from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Level, Region

from ..models import Grade, Group, MaterialItem, StockTarget, Warehouse
from .common import (
    KEEPER_PHONE_CONTEXT,
    audit,
    can,
    can_manage_catalogue,
    clean_quantity,
    clean_text,
    event,
    resolve_item,
    resolve_warehouse,
)

WAREHOUSE_LEVELS = (Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.VILLAGE)
# Pingcheng and its surroundings, generously: a point outside is a typing error (or swapped coordinates).
LAT_RANGE, LNG_RANGE = (3.0, 54.0), (73.0, 136.0)


def _check_manage_catalogue(actor) -> None:
    if not can_manage_catalogue(actor):
        raise PermissionDenied("物资目录须由区级管理员维护 / the catalogue is managed at district level")


def save_item(*, actor, code: str, name: str, unit: str, group: str, grade: str = Grade.B, spec: str = "",
              tracks_expiry: bool = False, is_active: bool = True, note: str = "") -> MaterialItem:
    """Add a catalogue item, or change the one with this code."""
    with transaction.atomic():
        _check_manage_catalogue(actor)
        code = clean_text(code, "code", 32, required=True, label="物资编码")
        if not all(c.isalnum() or c in "-_" for c in code):
            raise ValidationFailed("物资编码只能包含字母、数字、- 和 _ / code: letters, digits, - and _", field="code")
        values = {"name": clean_text(name, "name", 64, required=True, label="名称"),
                  "unit": clean_text(unit, "unit", 16, required=True, label="单位"),
                  "spec": clean_text(spec, "spec", 100, label="规格型号"),
                  "note": clean_text(note, "note", 200, label="说明"),
                  "tracks_expiry": bool(tracks_expiry), "is_active": bool(is_active)}
        if group not in Group.values:
            raise ValidationFailed("未知的物资类别 / unknown group", field="group")
        if grade not in Grade.values:
            raise ValidationFailed("分级须为 A、B 或 C / grade must be A, B or C", field="grade")
        values.update(group=group, grade=grade)
        item = MaterialItem.objects.select_for_update().filter(code=code).first()
        before = snapshot(item) if item else None
        if item is None:
            item = MaterialItem(code=code)
        for k, v in values.items():
            setattr(item, k, v)
        item.save()
        audit(actor=actor, action="materials.item_save", target=item, before=before, after=snapshot(item))
        return item


def _department(value) -> Organisation | None:
    if value in (None, ""):
        return None
    if isinstance(value, Organisation):
        return value
    found = Organisation.objects.filter(pk=int(value)).first() if str(value).isdigit() else None
    if found is None:
        found = Organisation.objects.filter(code=str(value)[:32]).first()
    if found is None:
        raise ValidationFailed("未知的部门 / unknown department", field="department")
    return found


def _coordinate(value, field: str, bounds: tuple[float, float], label: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"请填写{label} / {field} is required", field=field) from None
    if not bounds[0] <= number <= bounds[1]:
        raise ValidationFailed(f"{label}超出范围 / {field} out of range", field=field)
    return number


def save_warehouse(*, actor, code: str, name: str, region, lat, lng, department=None, address: str = "",
                   keeper: str = "", keeper_phone: str | None = None, is_active: bool = True, note: str = "",
                   is_demo: bool = False) -> Warehouse:
    """Add a warehouse, or change the one with this code (within the manager's region, both before and after)."""
    with transaction.atomic():
        code = clean_text(code, "code", 32, required=True, label="仓库编码")
        region_obj = region if isinstance(region, Region) else Region.objects.filter(code=str(region or "")).first()
        if region_obj is None or region_obj.level not in WAREHOUSE_LEVELS:
            raise ValidationFailed("仓库须属于区、街道或社区（村） / a warehouse belongs to the district, a street or a "
                                   "community", field="region")
        if not can(actor, "materials.manage", region_obj.code) or not (actor is None or has_capability(
                actor, "materials.manage")):
            raise PermissionDenied("您无权在该区域设立或修改仓库 / you may not manage warehouses there")
        existing = Warehouse.objects.filter(code=code).first()
        if existing is not None:
            existing = resolve_warehouse(actor, existing, lock=True)
            if not can(actor, "materials.manage", existing.region_code):
                raise PermissionDenied("您无权修改该仓库 / you may not change this warehouse")
        wh = existing or Warehouse(code=code, is_demo=is_demo)
        before = snapshot(wh) if existing else None
        wh.name = clean_text(name, "name", 100, required=True, label="名称")
        wh.region = region_obj
        wh.lat = _coordinate(lat, "lat", LAT_RANGE, "纬度")
        wh.lng = _coordinate(lng, "lng", LNG_RANGE, "经度")
        wh.department = _department(department)
        wh.address = clean_text(address, "address", 200, label="地址")
        wh.keeper = clean_text(keeper, "keeper", 64, label="保管员")
        wh.note = clean_text(note, "note", 200, label="说明")
        wh.is_active = bool(is_active)
        if keeper_phone is not None:
            phone = clean_text(keeper_phone, "keeper_phone", 40, label="电话")
            if phone:
                try:
                    phone = validate_mobile(phone)
                except ValueError as exc:
                    raise ValidationFailed(str(exc), field="keeper_phone") from None
            wh.keeper_phone_enc = keys.encrypt(phone, KEEPER_PHONE_CONTEXT) if phone else ""
            wh.keeper_phone_masked = mask_phone(phone)
        wh.save()
        audit(actor=actor, action="materials.warehouse_save", target=wh, before=before, after=snapshot(wh))
        event("materials.warehouse_saved", payload={"warehouse": wh.code}, aggregate=wh)
        return wh


def patron_department_of(street_code: str):
    """The street's flood-season 包保 department, when the hazards app has the table."""
    try:
        from civicgrid.apps.hazards.models import PatronAssignment
    except ImportError:  # pragma: no cover - the hazards app is installed with this one
        return None
    row = PatronAssignment.objects.filter(street_code=street_code, kind="flood").select_related("department").first()
    return row.department if row else None


def set_target(*, actor, street, item, min_quantity, note: str = "") -> StockTarget:
    """储备定额: the least a street must hold of an item (0 removes the duty but keeps the row for the record)."""
    with transaction.atomic():
        region = street if isinstance(street, Region) else Region.objects.filter(code=str(street or "")).first()
        if region is None or region.level != Level.STREET:
            raise ValidationFailed("储备定额按街道设定 / targets are set per street", field="street")
        if not can(actor, "materials.manage", region.code):
            raise PermissionDenied("您无权设定该街道的储备定额 / you may not set this street's targets")
        item = resolve_item(item)
        quantity = clean_quantity(min_quantity, "min_quantity", allow_zero=True)
        target = StockTarget.objects.select_for_update().filter(region_code=region.code, item=item).first()
        before = snapshot(target) if target else None
        if target is None:
            target = StockTarget(street=region, item=item, min_quantity=quantity)
        target.min_quantity = quantity
        target.note = clean_text(note, "note", 200, label="说明")
        target.department = target.department or patron_department_of(region.code)
        target.save()
        audit(actor=actor, action="materials.target_set", target=target, before=before, after=snapshot(target))
        return target


def delete_target(*, actor, target) -> None:
    with transaction.atomic():
        rows = StockTarget.objects.all() if actor is None else StockTarget.objects.visible_to(actor, "view")
        row = rows.filter(pk=getattr(target, "pk", target)).first()
        if row is None:
            raise NotFound("未找到该储备定额 / target not found")
        if not can(actor, "materials.manage", row.region_code):
            raise PermissionDenied("您无权删除该储备定额 / you may not remove this target")
        audit(actor=actor, action="materials.target_delete", target=row, before=snapshot(row))
        row.delete()
