"""What every materials service shares: permission and scope checks, input checks, audit and events."""

from __future__ import annotations

from datetime import date

from civicgrid.foundation.access.scope import get_visible_or_404, has_capability, scope_for
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.events.bus import publish

from ..models import MaterialItem, Warehouse

KEEPER_PHONE_CONTEXT = "materials.warehouse.keeper_phone"
MAX_QUANTITY = 10**12
DISTRICT_CODE_LENGTH = 6

def can(user, capability: str, region_code: str, department_id: int | None = None) -> bool:
    """Whether the user holds `capability` over this region code itself (not merely above it) or its department.

    `user=None` is the system itself (the demo loader, management commands): never an HTTP caller, whose
    requests always carry a signed-in user."""
    if user is None:
        return True
    scope = scope_for(user, capability)
    return scope.everything or scope.covers_code(region_code) or (
        department_id is not None and department_id in scope.department_ids)


def check_can(user, capability: str, warehouse: Warehouse) -> None:
    """Refuse (403) a user who may see the warehouse but not change it; the caller has checked visibility."""
    if not can(user, capability, warehouse.region_code, warehouse.department_id):
        raise PermissionDenied(f"您无权变更「{warehouse.name}」的物资 / you may not change this warehouse's stock")


def can_manage_catalogue(user) -> bool:
    if user is None:
        return True
    scope = scope_for(user, "materials.manage")
    return scope.everything or any(len(code) <= DISTRICT_CODE_LENGTH for code in scope.region_codes)


def resolve_warehouse(user, warehouse, action: str = "view", *, lock: bool = False) -> Warehouse:
    """A Warehouse (or its id or code) as the user may see it; 404 outside scope."""
    qs = Warehouse.objects.select_related("region", "department")
    if lock:
        qs = qs.select_for_update(of=("self",))
    if isinstance(warehouse, Warehouse):
        lookup = {"pk": warehouse.pk}
    elif isinstance(warehouse, int) or (isinstance(warehouse, str) and warehouse.isascii() and warehouse.isdigit() and len(warehouse) < 18):
        lookup = {"pk": int(warehouse)}
    else:
        lookup = {"code": str(warehouse or "")[:32]}
    if user is None:  # the system (demo, commands)
        try:
            return qs.get(**lookup)
        except (Warehouse.DoesNotExist, ValueError):
            raise NotFound("未找到该仓库 / warehouse not found") from None
    if not has_capability(user, "materials.view"):
        raise NotFound("未找到该仓库，或不在您的权限范围内 / warehouse not found")
    return get_visible_or_404(qs, user, action, **lookup)


def resolve_item(item) -> MaterialItem:
    """A catalogue item by instance, code or id; unknown or disabled items are a clear 400."""
    if isinstance(item, MaterialItem):
        found = item
    else:
        text = str(item or "").strip()[:32]
        found = MaterialItem.objects.filter(code=text).first()
        if found is None and text.isdigit() and len(text) < 18:
            found = MaterialItem.objects.filter(pk=int(text)).first()
    if found is None or not found.is_active:
        raise ValidationFailed(f"未知的物资：{str(item)[:32]} / unknown material item", field="item")
    return found


def clean_quantity(value, field: str = "quantity", *, allow_zero: bool = False) -> int:
    """A whole number of units, positive (or zero where allowed), within a sane bound."""
    try:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise ValidationFailed("数量须为整数 / quantity must be a whole number", field=field) from None
    if isinstance(value, bool) or number < (0 if allow_zero else 1) or number > MAX_QUANTITY:
        limit = "不小于 0" if allow_zero else "大于 0"
        raise ValidationFailed(f"数量须{limit}且不超过 {MAX_QUANTITY} / quantity out of range", field=field)
    return number


def clean_text(value, field: str, max_length: int, *, required: bool = False, label: str = "") -> str:
    text = refuse_nul(str(value or ""), field, label).strip()  # refused, never dropped (`core.text`)
    if required and not text:
        raise ValidationFailed(f"请填写{label or field} / {field} is required", field=field)
    if len(text) > max_length:
        raise ValidationFailed(f"{label or field}不能超过 {max_length} 个字符 / {field} is too long", field=field)
    return text


def clean_date(value, field: str, label: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValidationFailed(f"{label}须为日期 YYYY-MM-DD / {field} must be a date", field=field) from None


def audit(*, actor, action: str, target, before=None, after=None, data=None):
    return record(actor=actor, action=action, target=target, before=before, after=after, data=data)


def event(topic: str, *, payload: dict, aggregate) -> None:
    publish(topic, payload=payload, aggregate=aggregate)
