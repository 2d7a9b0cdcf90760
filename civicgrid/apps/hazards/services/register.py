"""Registering a hazard (登记) and keeping its registration and 包保 facts right."""

from __future__ import annotations

import math
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.regions.selectors import locate

from ..models import (
    CATEGORIES_BY_KIND,
    FoundBy,
    Grade,
    Hazard,
    HazardSequence,
    Kind,
    PatronAssignment,
    PatronKind,
    Rectification,
)
from .common import add_step, publish, record, user_or_none

OWNER_PHONE_CONTEXT = "hazards.owner.phone"
CODE_PREFIX = {Kind.FLOOD: "FX", Kind.SAFETY: "AQ"}
TEXT_LIMITS = {"name": 100, "description": 4000, "address": 200, "owner_unit": 100, "owner_person": 64,
               "inspector": 64, "sub_grade": 32}


def patron_for(street_code: str, kind: str):
    """The 包保 department answerable for a street: the assignment of the hazard's kind, else any."""
    rows = {a.kind: a.department for a in PatronAssignment.objects.filter(street_code=street_code)
            .select_related("department")}
    wanted = PatronKind.FLOOD if kind == Kind.FLOOD else PatronKind.SAFETY
    return rows.get(wanted) or next(iter(rows.values()), None)


def street_office_for(street_code: str):
    return (Organisation.objects.filter(kind=OrgKind.STREET_OFFICE, region_code=street_code, is_active=True)
            .order_by("id").first())


def next_code(kind: str, year: int) -> str:
    """The next hazard code of a kind and year (FX-2023-0001): the counter row is locked only briefly."""
    with transaction.atomic():
        seq, _ = HazardSequence.objects.get_or_create(kind=kind, year=year)
        qs = HazardSequence.objects.filter(pk=seq.pk)
        if connection.features.has_select_for_update:
            qs = qs.select_for_update()
        seq = qs.get()
        seq.last += 1
        seq.save(update_fields=["last"])
    return f"{CODE_PREFIX.get(kind, 'YH')}-{year}-{seq.last:04d}"


def _text(fields: dict, name: str, *, required: bool = False) -> str:
    value = str(fields.get(name) or "").strip()
    if required and not value:
        raise ValidationFailed(f"请填写{_LABELS.get(name, name)} / {name} is required", field=name)
    limit = TEXT_LIMITS.get(name)
    if limit and len(value) > limit:
        raise ValidationFailed(f"{_LABELS.get(name, name)}最多 {limit} 个字 / {name} too long", field=name)
    return value


_LABELS = {"name": "隐患名称", "description": "问题描述", "address": "地址", "owner_unit": "责任单位",
           "owner_person": "责任人", "inspector": "排查人", "category": "隐患类别", "sub_grade": "细分等级"}


def _number(value, field: str, label: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label}须为数字 / {field} must be a number", field=field) from None
    if not math.isfinite(number):
        raise ValidationFailed(f"{label}须为有限数字 / {field} must be finite", field=field)
    return number


def _count(value, field: str, label: str) -> int:
    if value in (None, ""):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label}须为整数 / {field} must be a whole number", field=field) from None
    if number < 0 or number > 10_000_000:
        raise ValidationFailed(f"{label}超出范围 / {field} out of range", field=field)
    return number


def validate_registration(fields: dict) -> dict:
    """Check and normalise the fields of a registration; raises ValidationFailed naming the field."""
    for name, value in fields.items():  # a NUL is refused, never stored (`core.text`; PostgreSQL cannot)
        refuse_nul(value, name, _LABELS.get(name, ""))
    kind = str(fields.get("kind") or "").strip()
    if kind not in Kind.values:
        raise ValidationFailed("隐患类型须为 safety（安全）或 flood（防汛） / kind must be safety or flood", field="kind")
    category = str(fields.get("category") or "").strip()
    allowed = CATEGORIES_BY_KIND[Kind(kind)]
    if category not in allowed:
        names = "、".join(f"{k}（{v}）" for k, v in allowed.items())
        raise ValidationFailed(f"隐患类别无效，可选：{names} / unknown category", field="category")
    grade = str(fields.get("grade") or Grade.GENERAL).strip()
    if grade not in Grade.values:
        raise ValidationFailed("等级须为 general（一般）或 major（重大） / grade must be general or major",
                               field="grade")
    found_by = str(fields.get("found_by") or FoundBy.ROUTINE).strip()
    if found_by not in FoundBy.values:
        raise ValidationFailed("发现方式无效 / unknown found_by", field="found_by")
    found_on = fields.get("found_on") or timezone.localdate()
    if isinstance(found_on, str):
        try:
            found_on = date.fromisoformat(found_on.strip())
        except ValueError:
            raise ValidationFailed("发现日期格式应为 YYYY-MM-DD / found_on must be a date", field="found_on") from None
    if found_on > timezone.localdate():
        raise ValidationFailed("发现日期不能晚于今天 / found_on is in the future", field="found_on")
    lat = _number(fields.get("lat"), "lat", "纬度")
    lng = _number(fields.get("lng"), "lng", "经度")
    phone = str(fields.get("owner_phone") or "").strip()
    if phone:
        try:
            phone = validate_mobile(phone)
        except ValueError as exc:
            raise ValidationFailed(f"责任人电话：{exc}", field="owner_phone") from None
    return {
        "kind": kind, "category": category, "grade": grade, "found_by": found_by, "found_on": found_on,
        "lat": lat, "lng": lng, "crs": str(fields.get("crs") or "wgs84"), "owner_phone": phone,
        "name": _text(fields, "name", required=True), "description": _text(fields, "description", required=True),
        "address": _text(fields, "address"), "owner_unit": _text(fields, "owner_unit"),
        "owner_person": _text(fields, "owner_person"), "inspector": _text(fields, "inspector"),
        "sub_grade": _text(fields, "sub_grade"),
        "threatened_people": _count(fields.get("threatened_people"), "threatened_people", "威胁人数"),
        "threatened_households": _count(fields.get("threatened_households"), "threatened_households", "威胁户数"),
        "short_term_fixable": fields.get("short_term_fixable", True) not in (False, "false", "0", "off", "no"),
    }


def _may_register_at(actor, grid_code: str, responsible_department, patron) -> bool:
    if actor is None or getattr(actor, "is_superuser", False):
        return True
    if not has_capability(actor, "hazards.register"):
        return False
    scope = scope_for(actor, "hazards.register")
    if scope.covers_code(grid_code):
        return True
    departments = {d.pk for d in (responsible_department, patron) if d is not None}
    return bool(departments & scope.department_ids)


@transaction.atomic
def register_hazard(*, actor, campaign=None, responsible_department=None, source_case_id=None,
                    is_synthetic: bool = False, registered_at=None, **fields) -> Hazard:
    """Register a hazard point (登记): located to its grid, named to its street's 包保 department.

    A 重大 hazard goes on the supervised list (挂牌督办) at once. Refusals change nothing.
    """
    if actor is not None and not has_capability(actor, "hazards.register"):
        raise PermissionDenied("您无权登记隐患 / you may not register hazards")
    data = validate_registration(fields)
    try:
        where = locate(data["lng"], data["lat"], data["crs"])
    except NotFound as exc:  # outside the district: the registration is wrong (400), not the address asked for
        raise ValidationFailed(exc.message, field="lat") from None
    if where.grid is None:
        raise ValidationFailed("该位置未划分网格 / no grid at this point", field="lat")
    street_code = where.street.code
    patron = patron_for(street_code, data["kind"])
    if responsible_department is not None and not isinstance(responsible_department, Organisation):
        responsible_department = Organisation.objects.filter(pk=responsible_department).first()
        if responsible_department is None:
            raise ValidationFailed("行业主管部门不存在 / unknown responsible department",
                                   field="responsible_department")
    if not _may_register_at(actor, where.grid.code, responsible_department, patron):
        raise PermissionDenied("该位置不在您登记隐患的权限范围内 / outside the scope of your role")
    now = registered_at or timezone.now()
    grid = Region.objects.only("id", "code").get(code=where.grid.code)
    hazard = Hazard.objects.create(
        code=next_code(data["kind"], data["found_on"].year), name=data["name"], kind=data["kind"],
        category=data["category"], grade=data["grade"], sub_grade=data["sub_grade"],
        description=data["description"], found_by=data["found_by"], found_on=data["found_on"],
        inspector=data["inspector"], campaign=campaign, source_case_id=source_case_id,
        lng=where.lng, lat=where.lat, address=data["address"], grid=grid, region_code=grid.code,
        street_code=street_code, owner_unit=data["owner_unit"], owner_person=data["owner_person"],
        owner_phone_enc=keys.encrypt(data["owner_phone"], OWNER_PHONE_CONTEXT) if data["owner_phone"] else "",
        owner_phone_masked=mask_phone(data["owner_phone"]) if data["owner_phone"] else "",
        patron_department=patron, responsible_department=responsible_department,
        supervising_street=street_office_for(street_code),
        threatened_people=data["threatened_people"], threatened_households=data["threatened_households"],
        short_term_fixable=data["short_term_fixable"], is_supervised=data["grade"] == Grade.MAJOR,
        registered_at=now, is_synthetic=is_synthetic, registered_by=user_or_none(actor),
    )
    Rectification.objects.create(hazard=hazard)
    note = f"登记{hazard.get_grade_display()}：{hazard.category_label}"
    add_step(hazard, action="register", actor=actor, at=now, to_status=hazard.status, note=note)
    if hazard.is_supervised:
        add_step(hazard, action="supervise", actor=actor, at=now, note="重大隐患自动挂牌督办",
                 note_en="major hazard: put under supervision automatically")
    record(hazard, actor=actor, action="register", before=None)
    publish(hazard, "registered", supervised=hazard.is_supervised)
    return hazard


def reveal_owner_phone(*, actor, hazard: Hazard) -> str:
    """The owner's phone in clear for someone who may act on the hazard; every reveal is audited."""
    from civicgrid.foundation.audit import service as audit

    from .common import REVEAL_CAPABILITY, ensure_capability_scope, ensure_visible

    ensure_visible(actor, hazard)
    ensure_capability_scope(actor, hazard, REVEAL_CAPABILITY, "查看责任人电话")
    audit.record(actor=user_or_none(actor) or "system", action="hazards.reveal_phone", target=hazard)
    return keys.decrypt(hazard.owner_phone_enc, OWNER_PHONE_CONTEXT) if hazard.owner_phone_enc else ""
