"""Writes to base data (一标三实): one service per use case, each in one transaction.

Every write: capability and scope (`people.change` must cover the object's grid before and after) → validate
(model field rules, personal numbers through `personal`, the grid must be a grid) → save → audit with
before/after snapshots (encrypted columns appear only as "[已加密]") → an outbox event. Clear personal numbers
leave the database only through `reveal`, which checks `people.reveal` and records who saw which field.

Data dictionaries use model field names plus references by code (`grid_code`, `building_code`, `house_code`,
`household_code`) and clear personal numbers (`id_number`, `phone`, `contact_phone`), so forms, the API and
tests pass what a person types.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.deletion import ProtectedError

from ..access.scope import has_capability, scope_for
from ..audit import service as audit
from ..audit import verbs
from ..core import keys
from ..core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..events import bus as events
from ..regions.models import Level, Region
from . import personal
from .models import Building, House, Household, KeyGroup, KeyGroupLabel, Place, Resident, Unit

# Fields a caller may set directly, per model (everything else is derived here).
EDITABLE: dict[type[models.Model], tuple[str, ...]] = {
    Building: ("code", "address", "name", "estate", "use", "floors", "built_year", "lng", "lat"),
    House: ("code", "unit_no", "room_no", "area_m2", "use", "lng", "lat"),
    Household: ("code", "address", "head_name", "registered", "lng", "lat"),
    Resident: ("name", "relation", "residency", "ethnicity", "work_place", "lng", "lat"),
    Unit: ("name", "kind", "credit_code", "address", "contact_name", "employees", "lng", "lat"),
    Place: ("name", "kind", "address", "description", "lng", "lat"),
}
REVEALABLE = {"id_number": ("id_number_enc", personal.ID_CONTEXT), "phone": ("phone_enc", personal.PHONE_CONTEXT)}
_NOT_IN_SCOPE = "该对象不在您的管理范围内 / outside your scope"


# ---------------------------------------------------------------------------------------------- checks


def require_change(actor, region_code: str) -> None:
    """Refuse unless the actor may change base data in the grid with this code."""
    if not scope_for(actor, "people.change").covers_code(region_code or "\x00"):
        raise PermissionDenied(_NOT_IN_SCOPE)


def grid_by_code(code: str | None) -> Region:
    """The grid with this code; `ValidationFailed` naming the field otherwise."""
    code = (code or "").strip()
    if not code:
        raise ValidationFailed("请填写所属网格代码 / the grid code is required", field="grid_code")
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise ValidationFailed("网格代码不存在 / unknown grid code", field="grid_code")
    if region.level != Level.GRID:
        raise ValidationFailed("该代码不是网格，请填写 15 位网格代码 / this code is not a grid", field="grid_code")
    return region


def _by_code(model, code: str, field: str, actor):
    obj = model.objects.visible_to(actor, "change").filter(code=code.strip()).first()
    if obj is None:
        label = model._meta.get_field("code").verbose_name
        raise ValidationFailed(f"{label}不存在或不在您的管理范围内 / unknown {field}", field=field)
    return obj


def _full_clean(obj: models.Model) -> None:
    # id_number_index uniqueness is checked by `_check_unique_id` with a message about the ID number itself.
    try:
        obj.full_clean(exclude=["grid", "region_code", "id_number_index"])
    except ValidationError as exc:
        details = [{"field": f, "message": str(m)} for f, msgs in exc.message_dict.items() for m in msgs]
        first = details[0]
        try:
            label = obj._meta.get_field(first["field"]).verbose_name
        except Exception:
            label = first["field"]
        raise ValidationFailed(f"{label}：{first['message']}", field=first["field"], details=details) from None


def _check_unique_id(resident: Resident) -> None:
    if resident.id_number_index:
        clash = Resident.objects.filter(id_number_index=resident.id_number_index).exclude(pk=resident.pk)
        if clash.exists():
            raise ValidationFailed("该身份证号已登记 / this ID number is already registered", field="id_number")


# ---------------------------------------------------------------------------------------------- assigning


def _set_grid(obj, grid: Region) -> None:
    obj.grid = grid
    obj.region_code = grid.code


def _assign(actor, obj, data: dict) -> None:
    """Copy editable fields and resolve references and personal numbers onto `obj` (not saved)."""
    for name in EDITABLE[type(obj)]:
        if name in data:
            value = data[name]
            setattr(obj, name, value.strip() if isinstance(value, str) else value)
    if "grid_code" in data and not isinstance(obj, House):
        _set_grid(obj, grid_by_code(data["grid_code"]))
    if isinstance(obj, House) and data.get("building_code"):
        obj.building = _by_code(Building, data["building_code"], "building_code", actor)
        obj.grid_id, obj.region_code = obj.building.grid_id, obj.building.region_code
    if isinstance(obj, Household) and "house_code" in data:
        obj.house = _by_code(House, data["house_code"], "house_code", actor) if data["house_code"] else None
        if obj.house and "grid_code" not in data:
            obj.grid_id, obj.region_code = obj.house.grid_id, obj.house.region_code
    if isinstance(obj, Household) and obj.house_id and obj.house.region_code != obj.region_code:
        raise ValidationFailed("房屋所在网格与所属网格不一致 / the house is in another grid", field="grid_code")
    if isinstance(obj, Unit) and "building_code" in data:
        obj.building = _by_code(Building, data["building_code"], "building_code", actor) if data["building_code"] else None
    if isinstance(obj, Resident):
        _assign_resident(actor, obj, data)
    if isinstance(obj, Unit) and "contact_phone" in data:
        phone = _clean(personal.clean_phone, data["contact_phone"], "contact_phone")
        obj.contact_phone_enc = keys.encrypt(phone, personal.UNIT_PHONE_CONTEXT)
        obj.contact_phone_masked = personal.mask_phone(phone) if phone else ""


def _clean(func, value, field: str):
    if value in (None, ""):
        return ""
    try:
        return func(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from None


def _assign_resident(actor, obj: Resident, data: dict) -> None:
    if "household_code" in data:
        obj.household = (
            _by_code(Household, data["household_code"], "household_code", actor) if data["household_code"] else None
        )
        if obj.household and "grid_code" not in data:
            obj.grid_id, obj.region_code = obj.household.grid_id, obj.household.region_code
    if obj.household_id and obj.household.region_code != obj.region_code:
        raise ValidationFailed("户所在网格与所属网格不一致 / the household is in another grid", field="grid_code")
    if "id_number" in data:
        cleaned = _clean(personal.clean_id_number, data["id_number"], "id_number")
        number, born, sex = cleaned if cleaned else ("", None, "")
        for name, value in personal.id_columns(number).items():
            setattr(obj, name, value)
        obj.birth_date, obj.sex = born, sex
    if "phone" in data:
        phone = _clean(personal.clean_phone, data["phone"], "phone")
        for name, value in personal.phone_columns(phone).items():
            setattr(obj, name, value)


def _move_dependants(obj) -> dict:
    """What sits in a building, house or household moves to its new grid with it; labels follow residents."""
    where = {"grid_id": obj.grid_id, "region_code": obj.region_code}
    residents = Resident.objects.none()
    moved = {}
    if isinstance(obj, Building):
        moved["houses"] = House.objects.filter(building=obj).update(**where)
        moved["households"] = Household.objects.filter(house__building=obj).update(**where)
        residents = Resident.objects.filter(household__house__building=obj)
    elif isinstance(obj, House):
        moved["households"] = Household.objects.filter(house=obj).update(**where)
        residents = Resident.objects.filter(household__house=obj)
    elif isinstance(obj, Household):
        residents = Resident.objects.filter(household=obj)
    ids = [obj.pk] if isinstance(obj, Resident) else list(residents.values_list("pk", flat=True))
    if not isinstance(obj, Resident):
        moved["residents"] = Resident.objects.filter(pk__in=ids).update(**where)
    moved["key_group_labels"] = KeyGroupLabel.objects.filter(resident_id__in=ids).update(region_code=obj.region_code)
    return {k: v for k, v in moved.items() if v}


def _topic(obj, verb: str) -> str:
    return f"people.{obj._meta.model_name}.{verb}"


def _refresh_household_sizes(*ids) -> None:
    for household_id in {i for i in ids if i}:
        Household.objects.filter(pk=household_id).update(size=Resident.objects.filter(household_id=household_id).count())


# ---------------------------------------------------------------------------------------------- generic


def _create(actor, model, data: dict):
    if not has_capability(actor, "people.change"):
        raise PermissionDenied("您无权登记基础数据 / you may not change base data")
    with transaction.atomic():
        obj = model()
        _assign(actor, obj, data)
        if not obj.region_code:
            raise ValidationFailed("请填写所属网格代码 / the grid code is required", field="grid_code")
        require_change(actor, obj.region_code)
        _full_clean(obj)
        if isinstance(obj, Resident):
            _check_unique_id(obj)
        obj.save()
        if isinstance(obj, Resident):
            _refresh_household_sizes(obj.household_id)
        audit.record(actor=actor, action=verbs.Data.CREATED, target=obj, after=audit.snapshot(obj))
        events.publish(_topic(obj, "created"), payload={"id": obj.pk}, aggregate=obj)
    return obj


def _update(actor, obj, data: dict):
    with transaction.atomic():
        obj = type(obj).objects.select_for_update().get(pk=obj.pk)
        require_change(actor, obj.region_code)
        before = audit.snapshot(obj)
        old_household = getattr(obj, "household_id", None)
        _assign(actor, obj, data)
        require_change(actor, obj.region_code)
        _full_clean(obj)
        if isinstance(obj, Resident):
            _check_unique_id(obj)
        obj.save()
        moved = _move_dependants(obj) if before["region_code"] != obj.region_code else None
        if isinstance(obj, Resident):
            _refresh_household_sizes(old_household, obj.household_id)
        after = audit.snapshot(obj)
        audit.record(
            actor=actor, action=verbs.Data.CHANGED, target=obj, before=before, after=after,
            data={"moved_with_it": moved} if moved else None,
        )
        events.publish(_topic(obj, "changed"), payload={"id": obj.pk}, aggregate=obj)
    return obj


def _delete(actor, obj) -> None:
    with transaction.atomic():
        require_change(actor, obj.region_code)
        before = audit.snapshot(obj)
        pk, household = obj.pk, getattr(obj, "household_id", None)
        try:
            obj.delete()
        except ProtectedError:
            raise Conflict("仍有关联数据（如楼栋下的房屋），不能删除 / still referenced; remove those first") from None
        obj.pk = pk
        _refresh_household_sizes(household)
        audit.record(actor=actor, action=verbs.Data.DELETED, target=obj, before=before)
        events.publish(_topic(obj, "deleted"), payload={"id": pk}, aggregate=obj)


# ---------------------------------------------------------------------------------------------- public


def create_building(*, actor, data: dict) -> Building:
    """Register a building at a standard address in a grid."""
    return _create(actor, Building, data)


def update_building(*, actor, building: Building, data: dict) -> Building:
    """Change a building; moving it to another grid moves its houses too."""
    return _update(actor, building, data)


def delete_building(*, actor, building: Building) -> None:
    """Remove a building that has no houses left."""
    _delete(actor, building)


def create_house(*, actor, data: dict) -> House:
    """Register a house (dwelling) in a building; it sits in the building's grid."""
    if not data.get("building_code"):
        raise ValidationFailed("请填写楼栋编码 / the building code is required", field="building_code")
    return _create(actor, House, data)


def update_house(*, actor, house: House, data: dict) -> House:
    """Change a house."""
    return _update(actor, house, data)


def delete_house(*, actor, house: House) -> None:
    """Remove a house (its households keep existing, without a house)."""
    _delete(actor, house)


def create_household(*, actor, data: dict) -> Household:
    """Register a household, in a grid or in a house."""
    return _create(actor, Household, data)


def update_household(*, actor, household: Household, data: dict) -> Household:
    """Change a household."""
    return _update(actor, household, data)


def delete_household(*, actor, household: Household) -> None:
    """Remove a household (its members stay registered, without a household)."""
    _delete(actor, household)


def create_resident(*, actor, data: dict) -> Resident:
    """Register a resident; ID number and phone are validated, encrypted, indexed and masked."""
    return _create(actor, Resident, data)


def update_resident(*, actor, resident: Resident, data: dict) -> Resident:
    """Change a resident (including moving between grids or households within the actor's scope)."""
    return _update(actor, resident, data)


def delete_resident(*, actor, resident: Resident) -> None:
    """Remove a resident and their key-group labels."""
    _delete(actor, resident)


def create_unit(*, actor, data: dict) -> Unit:
    """Register a unit (shop, company, school …)."""
    return _create(actor, Unit, data)


def update_unit(*, actor, unit: Unit, data: dict) -> Unit:
    """Change a unit."""
    return _update(actor, unit, data)


def delete_unit(*, actor, unit: Unit) -> None:
    """Remove a unit."""
    _delete(actor, unit)


def create_place(*, actor, data: dict) -> Place:
    """Register a place or facility."""
    return _create(actor, Place, data)


def update_place(*, actor, place: Place, data: dict) -> Place:
    """Change a place or facility."""
    return _update(actor, place, data)


def delete_place(*, actor, place: Place) -> None:
    """Remove a place or facility."""
    _delete(actor, place)


# ---------------------------------------------------------------------------------------------- sensitive


def reveal(*, actor, resident: Resident, field: str) -> str:
    """The clear ID number or phone, for actors with `people.reveal` over the resident's grid; audited."""
    if field not in REVEALABLE:
        raise ValidationFailed("只能查看身份证号或电话 / field must be id_number or phone", field="field")
    allowed = scope_for(actor, "people.reveal").covers_code(resident.region_code)
    audit.record(
        actor=actor,
        action=verbs.Data.REVEALED,
        target=resident,
        data={"field": field},
        result="ok" if allowed else "denied",
    )
    if not allowed:
        raise PermissionDenied("您无权查看完整的个人证件号码或电话 / you may not reveal personal numbers")
    column, context = REVEALABLE[field]
    return keys.decrypt(getattr(resident, column), context)


def add_key_group(*, actor, resident: Resident, group: str, note: str = "", since=None) -> KeyGroupLabel:
    """Label a resident as a member of a key group (重点人群); the note is stored encrypted."""
    if group not in KeyGroup.values:
        raise ValidationFailed("重点人群类别无效 / unknown key group", field="group")
    with transaction.atomic():
        if not scope_for(actor, "people.key_group").covers_code(resident.region_code):
            raise PermissionDenied("您无权管理重点人群 / you may not manage key groups")
        if KeyGroupLabel.objects.filter(resident=resident, group=group).exists():
            raise Conflict("该居民已有此重点人群标签 / the resident already has this label")
        label = KeyGroupLabel(
            resident=resident,
            group=group,
            region_code=resident.region_code,
            note_enc=keys.encrypt((note or "").strip(), personal.KEY_GROUP_NOTE_CONTEXT),
            since=since,
        )
        label.save()
        audit.record(actor=actor, action=verbs.Data.CREATED, target=label, after=audit.snapshot(label))
        events.publish("people.key_group.added", payload={"id": label.pk, "resident_id": resident.pk}, aggregate=label)
    return label


def remove_key_group(*, actor, label: KeyGroupLabel) -> None:
    """Remove a key-group label."""
    with transaction.atomic():
        if not scope_for(actor, "people.key_group").covers_code(label.region_code):
            raise PermissionDenied("您无权管理重点人群 / you may not manage key groups")
        before, pk, resident_id = audit.snapshot(label), label.pk, label.resident_id
        label.delete()
        label.pk = pk
        audit.record(actor=actor, action=verbs.Data.DELETED, target=label, before=before)
        events.publish("people.key_group.removed", payload={"id": pk, "resident_id": resident_id}, aggregate=label)


def read_key_group_note(*, actor, label: KeyGroupLabel) -> str:
    """The clear note of a key-group label (a confidential read, audited)."""
    if not scope_for(actor, "people.key_group").covers_code(label.region_code):
        raise NotFound("未找到 / not found")
    audit.record(actor=actor, action=verbs.Data.CONFIDENTIAL_READ, target=label, data={"field": "note"})
    return keys.decrypt(label.note_enc, personal.KEY_GROUP_NOTE_CONTEXT)


def may_reveal(actor, resident: Resident) -> bool:
    """Whether the actor could reveal this resident's numbers (to show or hide the button)."""
    return has_capability(actor, "people.reveal") and scope_for(actor, "people.reveal").covers_code(resident.region_code)
