"""Every write of the rescue app: teams and members, incidents, call-outs and their answers, materials, close.

Each use case is one function with a keyword-only `actor`, in one transaction: permission and scope check →
validate → change and save → SLA clock (a call-out must be acknowledged within
`CIVICGRID_RESCUE_ACK_MINUTES`, natural time) → audit → outbox event, and for incidents a timeline step.
Bad input raises before anything is written, so a refusal changes nothing.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.audit.service import record, snapshot
from civicgrid.foundation.core import keys
from civicgrid.foundation.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pii import mask_phone, validate_mobile
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.events.bus import publish
from civicgrid.foundation.notify import titles
from civicgrid.foundation.notify.services import notify
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.sla import services as sla

from .models import (
    ACTIVE_CALLOUT_STATUSES,
    SKILL_LABELS,
    Availability,
    CallOut,
    CallOutStatus,
    Incident,
    IncidentKind,
    IncidentMaterial,
    IncidentSequence,
    IncidentSource,
    IncidentStatus,
    IncidentStep,
    RescueMember,
    RescueTeam,
    Severity,
    TeamKind,
    skills_text,
)
from .workflow import INCIDENT_WORKFLOW, REPORT_FIELDS

LEADER_PHONE_CONTEXT = "rescue.team.leader_phone"
MEMBER_PHONE_CONTEXT = "rescue.member.phone"
ACK_CLOCK = "rescue.acknowledge"
# What inbox titles say before "：<incident or team>" (the inbox shows them in the reader's language; the
# handlers send the second).
INBOX_TITLES = titles.register(gettext_noop("抢险调派"), gettext_noop("队伍未响应"))
NOT_FOUND = "未找到该对象，或不在您的权限范围内 / not found"

# hazard category → incident kind (a hazard's kind decides the rest)
HAZARD_KIND = {
    "low_lying": IncidentKind.WATERLOGGING, "underpass": IncidentKind.WATERLOGGING,
    "culvert": IncidentKind.WATERLOGGING, "underground": IncidentKind.WATERLOGGING,
    "poor_drainage": IncidentKind.WATERLOGGING, "pump_station": IncidentKind.WATERLOGGING,
    "roof_leak": IncidentKind.HOUSE, "dilapidated_house": IncidentKind.HOUSE, "self_built": IncidentKind.HOUSE,
    "flash_flood": IncidentKind.GEOLOGICAL, "river_dike": IncidentKind.FLOOD, "deep_pit": IncidentKind.GEOLOGICAL,
    "hazchem": IncidentKind.HAZCHEM, "gas": IncidentKind.GAS, "fire": IncidentKind.FIRE,
}


def ack_minutes() -> int:
    return int(getattr(settings, "CIVICGRID_RESCUE_ACK_MINUTES", 30))


# ------------------------------------------------------------------------------------------------ helpers


def _text(value, field: str, max_length: int, *, label: str, required: bool = False) -> str:
    text = refuse_nul(str(value or ""), field, label).strip()  # a NUL is refused, never stored (`core.text`)
    if required and not text:
        raise ValidationFailed(f"请填写{label} / {field} is required", field=field)
    if len(text) > max_length:
        raise ValidationFailed(f"{label}不能超过 {max_length} 字 / {field} is too long (max {max_length})",
                               field=field)
    return text


def _choice(value, choices, field: str, label: str) -> str:
    value = refuse_nul(str(value or ""), field, label).strip()
    if value not in choices.values:
        allowed = "、".join(str(lbl) for lbl in choices.labels)
        raise ValidationFailed(f"{label}无效，可选：{allowed} / invalid {field}", field=field)
    return value


def _phone(value, field: str, *, required: bool = False, landline: bool = True) -> str:
    text = refuse_nul(str(value or ""), field, "电话").strip()
    if not text:
        if required:
            raise ValidationFailed(f"请填写电话 / {field} is required", field=field)
        return ""
    try:
        return validate_mobile(text, allow_landline=landline)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from None


def _skills(values) -> str:
    refuse_nul(values, "skills", "技能")
    if isinstance(values, str):
        values = [v for v in values.replace("，", ",").replace("、", ",").split(",")]
    codes = set()
    by_label = {label: code for code, label in SKILL_LABELS.items()}
    for v in values or ():
        v = str(v).strip()
        if not v:
            continue
        code = v if v in SKILL_LABELS else by_label.get(v)
        if code is None:
            allowed = "、".join(SKILL_LABELS.values())
            raise ValidationFailed(f"未知技能「{v[:20]}」，可选：{allowed} / unknown skill", field="skills")
        codes.add(code)
    return skills_text(codes)


def _equipment(items) -> list[dict]:
    if items in (None, ""):
        return []
    if not isinstance(items, list | tuple):
        raise ValidationFailed("装备须为列表 / equipment must be a list", field="equipment")
    if len(items) > 100:
        raise ValidationFailed("装备最多 100 项 / at most 100 equipment lines", field="equipment")
    rows = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ValidationFailed(f"第 {i} 项装备格式无效 / equipment line {i} is invalid", field="equipment")
        name = _text(item.get("name"), "equipment", 50, label=f"第 {i} 项装备名称", required=True)
        try:
            qty = int(item.get("quantity") or 0)
        except (TypeError, ValueError):
            raise ValidationFailed(f"第 {i} 项装备数量须为整数 / quantity of line {i} must be an integer",
                                   field="equipment") from None
        if qty < 0 or qty > 1_000_000:
            raise ValidationFailed(f"第 {i} 项装备数量超出范围 / quantity of line {i} out of range", field="equipment")
        rows.append({"name": name, "quantity": qty, "unit": _text(item.get("unit"), "equipment", 8, label="单位")})
    return rows


def _coords(lng, lat) -> tuple[float | None, float | None]:
    if lng in (None, "") and lat in (None, ""):
        return None, None
    try:
        lng, lat = float(lng), float(lat)
    except (TypeError, ValueError):
        raise ValidationFailed("经纬度须为数字 / lng and lat must be numbers", field="lat") from None
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        raise ValidationFailed("经纬度超出范围 / lng or lat out of range", field="lat")
    return lng, lat


def _visible(model, actor):
    """The scoped read path; `actor=None` is the system (the demo loader, commands) and sees everything."""
    return model._default_manager.all() if actor is None else model._default_manager.visible_to(actor, "view")


def _can(actor, capability: str) -> bool:
    return actor is None or has_capability(actor, capability)


def _need(actor, capability: str, what: str) -> None:
    if not _can(actor, capability):
        raise PermissionDenied(f"您无权{what} / you may not do this")


def _covers(actor, capability: str, region_code: str, organisation_id: int | None = None) -> bool:
    if actor is None:
        return True
    scope = scope_for(actor, capability)
    if scope.covers_code(region_code):
        return True
    return organisation_id is not None and organisation_id in scope.department_ids


MAX_PK = 2**63 - 1


def _pk(value, field: str = "id") -> int:
    """A primary key from input: an integer within the database's range (anything else is simply not found)."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound(NOT_FOUND) from None
    if not 0 < pk <= MAX_PK:
        raise NotFound(NOT_FOUND)
    return pk


def _visible_team(actor, team: RescueTeam | int) -> RescueTeam:
    pk = team.pk if isinstance(team, RescueTeam) else _pk(team)
    found = _visible(RescueTeam, actor).select_related("region", "organisation").filter(pk=pk).first()
    if found is None:
        raise NotFound(NOT_FOUND)
    return found


def _visible_incident(actor, incident: Incident | int, *, lock: bool = False) -> Incident:
    pk = incident.pk if isinstance(incident, Incident) else _pk(incident)
    qs = _visible(Incident, actor).filter(pk=pk)
    if lock:
        # Lock the row (PostgreSQL) so two dispatchers do not act on the same state; SQLite serialises writes.
        qs = Incident.objects.select_for_update().filter(pk__in=qs.values("pk"))
    found = qs.first()
    if found is None:
        raise NotFound(NOT_FOUND)
    return found


def _step(incident: Incident, actor, action: str, *, note: str = "", team: RescueTeam | None = None,
          from_status: str = "", to_status: str = "", data: dict | None = None, at=None,
          note_en: str = "") -> IncidentStep:
    return IncidentStep.record_step(incident=incident, action=action, actor=actor, at=at, from_status=from_status,
                                    to_status=to_status, note=note, data=data, team=team, note_en=note_en)


def incident_url(incident: Incident) -> str:
    return reverse("ui:rescue_incident_detail", args=[incident.pk])


def team_accounts(team: RescueTeam) -> list:
    """Who answers for a team: accounts granted on its organisation (team accounts are department handlers of
    it) and holders of its posts; for a street's team also the street's staff."""
    from civicgrid.foundation.access.models import User
    from civicgrid.foundation.orgs.models import Post

    ids: set[int] = set()
    if team.organisation_id:
        ids |= set(Grant.objects.active().filter(department_id=team.organisation_id).values_list("user_id", flat=True))
        ids |= set(Post.objects.filter(organisation_id=team.organisation_id, user__isnull=False)
                   .values_list("user_id", flat=True))
    if team.kind == TeamKind.STREET:
        ids |= set(Grant.objects.active().filter(role=Role.STREET_STAFF, region_id=team.region_id)
                   .values_list("user_id", flat=True))
    return list(User.objects.filter(pk__in=ids, is_active=True).order_by("pk"))


# ------------------------------------------------------------------------------------------------- teams


def _check_manage(actor, region_code: str) -> None:
    _need(actor, "rescue.manage", "管理抢险队伍")
    if not _covers(actor, "rescue.manage", region_code):
        raise PermissionDenied("只能管理本辖区的抢险队伍 / you may manage only the teams of your own region")


def _team_values(data: dict, *, partial: bool) -> dict:
    """Validated team fields from `data` (only the keys present when `partial`)."""
    out: dict = {}

    def has(key):
        return key in data if partial else True

    if has("name"):
        out["name"] = _text(data.get("name"), "name", 100, label="队伍名称", required=True)
    if has("kind"):
        out["kind"] = _choice(data.get("kind"), TeamKind, "kind", "队伍类型")
    if has("leader_name"):
        out["leader_name"] = _text(data.get("leader_name"), "leader_name", 64, label="负责人", required=True)
    if has("leader_phone"):
        phone = _phone(data.get("leader_phone"), "leader_phone", required=True)
        out["leader_phone_enc"] = keys.encrypt(phone, LEADER_PHONE_CONTEXT)
        out["leader_phone_masked"] = mask_phone(phone)
    if has("headcount"):
        try:
            headcount = int(data.get("headcount") or 0)
        except (TypeError, ValueError):
            raise ValidationFailed("人数须为整数 / headcount must be an integer", field="headcount") from None
        if not 0 <= headcount <= 100_000:
            raise ValidationFailed("人数超出范围 / headcount out of range", field="headcount")
        out["headcount"] = headcount
    if has("equipment"):
        out["equipment"] = _equipment(data.get("equipment"))
    for key, label, size in (("equipment_note", "装备说明", 2000), ("base_address", "驻地", 200),
                             ("note", "备注", 2000)):
        if has(key):
            out[key] = _text(data.get(key), key, size, label=label)
    if has("lng") or has("lat"):
        out["lng"], out["lat"] = _coords(data.get("lng"), data.get("lat"))
    if "availability" in data and data["availability"] not in (None, ""):
        out["availability"] = _choice(data.get("availability"), Availability, "availability", "状态")
    if "is_active" in data and data["is_active"] is not None:
        out["is_active"] = bool(data["is_active"])
    return out


def _organisation(actor, org_id) -> Organisation | None:
    if org_id in (None, ""):
        return None
    try:
        pk = int(org_id)
        if not 0 < pk <= MAX_PK:
            raise ValueError
        return Organisation.objects.get(pk=pk)
    except (Organisation.DoesNotExist, TypeError, ValueError):
        raise ValidationFailed("所属单位不存在 / organisation not found", field="organisation") from None


@transaction.atomic
def create_team(*, actor, region_code: str, code: str = "", organisation=None, is_synthetic: bool = False,
                **data) -> RescueTeam:
    """Register a team in a region the actor manages (district teams: the command centre)."""
    region = Region.objects.filter(code=refuse_nul(str(region_code or ""), "region_code", "所属区域").strip()[:15]).first()
    if region is None:
        raise ValidationFailed("所属区域不存在 / region not found", field="region_code")
    _check_manage(actor, region.code)
    values = _team_values(data, partial=False)
    values.pop("availability", None)
    code = _text(code, "code", 32, label="队伍编号") or f"RT-{region.code}-{timezone.now():%y%m%d%H%M%S%f}"[:32]
    if RescueTeam.objects.filter(code=code).exists():
        raise Conflict(f"队伍编号 {code} 已存在 / team code already exists", field="code")
    team = RescueTeam.objects.create(code=code, region=region, region_code=region.code,
                                     organisation=_organisation(actor, organisation), is_synthetic=is_synthetic,
                                     availability=data.get("availability") or Availability.STANDBY, **values)
    record(actor=actor, action="rescue.team_created", target=team, after=snapshot(team))
    publish("rescue.team_created", payload={"team": team.pk, "kind": team.kind}, aggregate=team)
    return team


@transaction.atomic
def update_team(*, actor, team: RescueTeam | int, **changes) -> RescueTeam:
    """Edit a team (only the fields given). Availability cannot leave 出勤 while a call-out is active."""
    team = _visible_team(actor, team)
    team = RescueTeam.objects.select_for_update().get(pk=team.pk)
    _check_manage(actor, team.region_code)
    if "organisation" in changes:
        changes["organisation"] = _organisation(actor, changes["organisation"])
    values = _team_values(changes, partial=True)
    if "organisation" in changes:
        values["organisation"] = changes["organisation"]
    if "availability" in values and values["availability"] != team.availability:
        _check_availability_change(team, values["availability"])
    if not values:
        return team
    before = snapshot(team)
    for key, value in values.items():
        setattr(team, key, value)
    team.save()
    record(actor=actor, action="rescue.team_changed", target=team, before=before, after=snapshot(team))
    publish("rescue.team_changed", payload={"team": team.pk, "fields": sorted(values)}, aggregate=team)
    return team


def _check_availability_change(team: RescueTeam, availability: str) -> None:
    active = CallOut.objects.filter(team=team, status__in=ACTIVE_CALLOUT_STATUSES).exists()
    if active and availability != Availability.DEPLOYED:
        raise Conflict("该队伍仍在出勤（有未归队的调派），请先在险情中办理归队 / the team is still deployed",
                       field="availability")
    if not active and availability == Availability.DEPLOYED:
        raise ValidationFailed("出勤状态由调派自动设置 / 出勤 is set by a call-out", field="availability")


@transaction.atomic
def set_availability(*, actor, team: RescueTeam | int, availability: str, note: str = "") -> RescueTeam:
    """待命 ↔ 休整 by the team's managers or its own accounts (出勤 follows call-outs)."""
    team = _visible_team(actor, team)
    availability = _choice(availability, Availability, "availability", "状态")
    note = _text(note, "note", 500, label="说明")  # checked also when nothing changes: refused the same either way
    if not (_covers(actor, "rescue.manage", team.region_code)
            or _covers(actor, "rescue.respond", team.region_code, team.organisation_id)):
        raise PermissionDenied("您无权变更该队伍的状态 / you may not change this team's availability")
    team = RescueTeam.objects.select_for_update().get(pk=team.pk)
    if availability == team.availability:
        return team
    _check_availability_change(team, availability)
    before = snapshot(team)
    team.availability = availability
    team.save(update_fields=["availability", "updated_at"])
    record(actor=actor, action="rescue.team_availability", target=team, before=before, after=snapshot(team),
           data={"note": note})
    publish("rescue.team_availability", payload={"team": team.pk, "availability": availability}, aggregate=team)
    return team


def _refresh_team_skills(team: RescueTeam) -> None:
    codes = set()
    for text in team.members.filter(is_active=True).values_list("skills", flat=True):
        codes |= {c for c in text.split(",") if c}
    team.skills = skills_text(codes)
    team.save(update_fields=["skills", "updated_at"])


def _member_values(data: dict, *, partial: bool) -> dict:
    out: dict = {}

    def has(key):
        return key in data if partial else True

    if has("name"):
        out["name"] = _text(data.get("name"), "name", 64, label="姓名", required=True)
    if has("role"):
        out["role"] = _text(data.get("role"), "role", 32, label="职务")
    if has("phone"):
        phone = _phone(data.get("phone"), "phone")
        out["phone_enc"] = keys.encrypt(phone, MEMBER_PHONE_CONTEXT)
        out["phone_masked"] = mask_phone(phone)
    if has("skills"):
        out["skills"] = _skills(data.get("skills"))
    if has("certificates"):
        out["certificates"] = _text(data.get("certificates"), "certificates", 300, label="证书")
    if "is_active" in data and data["is_active"] is not None:
        out["is_active"] = bool(data["is_active"])
    return out


@transaction.atomic
def add_member(*, actor, team: RescueTeam | int, is_synthetic: bool = False, **data) -> RescueMember:
    team = _visible_team(actor, team)
    _check_manage(actor, team.region_code)
    member = RescueMember.objects.create(team=team, is_synthetic=is_synthetic, **_member_values(data, partial=False))
    _refresh_team_skills(team)
    record(actor=actor, action="rescue.member_added", target=member, after=snapshot(member),
           region_code=team.region_code)
    publish("rescue.member_added", payload={"team": team.pk, "member": member.pk}, aggregate=team)
    return member


@transaction.atomic
def update_member(*, actor, member: RescueMember | int, **changes) -> RescueMember:
    pk = member.pk if isinstance(member, RescueMember) else _pk(member)
    found = RescueMember.objects.filter(pk=pk, team__in=_visible(RescueTeam, actor)).first()
    if found is None:
        raise NotFound(NOT_FOUND)
    team = found.team
    _check_manage(actor, team.region_code)
    values = _member_values(changes, partial=True)
    if not values:
        return found
    before = snapshot(found)
    for key, value in values.items():
        setattr(found, key, value)
    found.save()
    _refresh_team_skills(team)
    record(actor=actor, action="rescue.member_changed", target=found, before=before, after=snapshot(found),
           region_code=team.region_code)
    publish("rescue.member_changed", payload={"team": team.pk, "member": found.pk}, aggregate=team)
    return found


# --------------------------------------------------------------------------------------------- incidents


def _next_code(at) -> str:
    year = timezone.localtime(at).year
    try:
        with transaction.atomic():
            IncidentSequence.objects.get_or_create(year=year)
    except IntegrityError:
        pass
    seq = IncidentSequence.objects.select_for_update().get(year=year)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"XQ-{year}-{seq.last:04d}"


def _locate(lng, lat) -> Region:
    from civicgrid.foundation.regions.selectors import locate

    try:
        found = locate(lng, lat)
    except NotFound as exc:  # outside every grid: the input is wrong, not the URL
        raise ValidationFailed(exc.message, field="location") from None
    ref = found.grid or found.community or found.street
    region = Region.objects.filter(code=ref.code).first() if ref else None
    if region is None:
        raise ValidationFailed("该位置不在任何网格内 / the point is in no grid", field="location")
    return region


def _source_hazard(actor, hazard_id):
    from civicgrid.apps.hazards.models import Hazard

    try:
        pk = int(hazard_id)
    except (TypeError, ValueError):
        raise ValidationFailed("隐患点编号无效 / invalid hazard id", field="hazard") from None
    if not 0 < pk <= MAX_PK:
        raise ValidationFailed("隐患点编号无效 / invalid hazard id", field="hazard")
    hazard = _visible(Hazard, actor).select_related("grid").filter(pk=pk).first()
    if hazard is None:
        raise ValidationFailed("隐患点不存在或不在您的权限范围内 / hazard not found", field="hazard")
    return hazard


def _source_case(actor, case_ref):
    from civicgrid.apps.cases.models import Case

    ref = str(case_ref).strip()
    qs = _visible(Case, actor).select_related("grid")
    case = None
    if ref.isdigit() and len(ref) == 13:
        case = qs.filter(number=ref).first()
    elif ref.isdigit() and len(ref) < 19:
        case = qs.filter(pk=int(ref)).first()
    if case is None:
        raise ValidationFailed("网格事件不存在或不在您的权限范围内 / case not found", field="case")
    return case


@transaction.atomic
def raise_incident(*, actor, title: str = "", description: str = "", kind: str = "", severity: str = "general",
                   hazard=None, case=None, reading_ref: str = "", station: str = "", lng=None, lat=None,
                   address: str = "", is_synthetic: bool = False, at=None) -> Incident:
    """报告险情: from a hazard point, a grid case, a flood reading (reference) or directly at a point.

    The location comes from the hazard or case when none is given; a reading or a direct report needs one.
    The point is located to its grid, and the actor must command that grid's region."""
    _need(actor, "rescue.command", "报告险情")
    for name, value in (("title", title), ("description", description), ("kind", kind), ("severity", severity),
                        ("hazard", hazard), ("case", case), ("address", address)):
        refuse_nul(value, name)  # before a lookup by them (PostgreSQL refuses a NUL even in a WHERE)
    at = at or timezone.now()
    source = IncidentSource.DIRECT
    hazard_obj = case_obj = None
    grid = None
    lng, lat = _coords(lng, lat)
    reading_ref = _text(reading_ref, "reading_ref", 64, label="雨情水情记录")
    station = _text(station, "station", 64, label="测站")
    if hazard not in (None, ""):
        hazard_obj = _source_hazard(actor, hazard)
        source = IncidentSource.HAZARD
        if lng is None or (abs(lng - hazard_obj.lng) < 1e-6 and abs(lat - hazard_obj.lat) < 1e-6):
            lng, lat, grid = hazard_obj.lng, hazard_obj.lat, hazard_obj.grid
        title = title or f"{hazard_obj.name}险情"
        kind = kind or HAZARD_KIND.get(hazard_obj.category, IncidentKind.OTHER)
        address = address or hazard_obj.address
    elif case not in (None, ""):
        case_obj = _source_case(actor, case)
        source = IncidentSource.CASE
        if lng is None:
            lng, lat, grid = case_obj.lng, case_obj.lat, case_obj.grid
        # as staff read them (`Case.title_for_staff`): a caller's number or name typed into the case stays
        # with the case, not in the incident and the messages to the teams
        title = title or case_obj.title_for_staff
        address = address or case_obj.address_for_staff
    elif reading_ref or station:
        source = IncidentSource.READING
    if lng is None:
        raise ValidationFailed("缺少位置：请在地图上选点或填写经纬度 / a location is required", field="location")
    title = _text(title, "title", 100, label="标题", required=True)
    description = _text(description, "description", 4000, label="情况描述")
    kind = _choice(kind or IncidentKind.OTHER, IncidentKind, "kind", "险情类型")
    severity = _choice(severity or Severity.GENERAL, Severity, "severity", "险情等级")
    address = _text(address, "address", 200, label="地址")
    if grid is None:
        grid = _locate(lng, lat)
    if not _covers(actor, "rescue.command", grid.code):
        raise PermissionDenied("该位置不在您的辖区内 / the location is outside your region")
    incident = Incident.objects.create(
        code=_next_code(at), title=title, description=description, kind=kind, severity=severity, source=source,
        hazard=hazard_obj, reading_ref=reading_ref, station=station,
        case_id=case_obj.pk if case_obj else None, case_number=case_obj.number if case_obj else "",
        lng=lng, lat=lat, address=address, grid=grid, region_code=grid.code, street_code=grid.code[:9],
        opened_at=at, opened_by=actor if getattr(actor, "is_authenticated", False) else None,
        is_synthetic=is_synthetic,
    )
    _step(incident, actor, "raise", to_status=incident.status, note=description, at=at,
          data={"source": source, "hazard": hazard_obj.code if hazard_obj else None,
                "case": incident.case_number or None, "reading": reading_ref or None, "station": station or None})
    record(actor=actor, action="rescue.incident_raised", target=incident, after=snapshot(incident))
    publish("rescue.incident_raised", aggregate=incident, payload={
        "incident": incident.pk, "code": incident.code, "kind": kind, "severity": severity, "source": source,
        "hazard": hazard_obj.pk if hazard_obj else None, "case": incident.case_id, "street": incident.street_code})
    return incident


def _command_incident(actor, incident, action: str, inputs: dict) -> Incident:
    """The incident, locked, after the workflow and the actor's command scope over its region allow `action`."""
    incident = _visible_incident(actor, incident, lock=True)
    if actor is None:  # the system: the state still has to allow the action
        t = INCIDENT_WORKFLOW.transition(action)
        if incident.status not in t.sources:
            raise Conflict(f"当前状态不能执行「{t.label}」 / not allowed in state {incident.status}")
        return incident
    INCIDENT_WORKFLOW.check(incident, actor, action, inputs)
    if not _covers(actor, "rescue.command", incident.region_code):
        raise PermissionDenied("该险情不在您的指挥范围内 / the incident is outside your command")
    return incident


@transaction.atomic
def call_out(*, actor, incident: Incident | int, teams, task: str = "") -> list[CallOut]:
    """调派: send one or more 待命 teams to an open incident; each goes 出勤 and its accounts get an inbox
    message; a clock for the acknowledgement starts."""
    ids = []
    for value in (teams if isinstance(teams, list | tuple | set) else [teams]):
        try:
            ids.append(int(value.pk if isinstance(value, RescueTeam) else value))
        except (TypeError, ValueError):
            raise ValidationFailed("队伍编号无效 / invalid team id", field="teams") from None
    ids = list(dict.fromkeys(ids))
    if len(ids) > 50 or any(not 0 < i <= MAX_PK for i in ids):
        raise ValidationFailed("队伍编号无效（一次最多调派 50 支） / invalid team ids (at most 50)", field="teams")
    incident = _command_incident(actor, incident, "callout", {"teams": ",".join(map(str, ids))})
    task = _text(task, "task", 2000, label="任务")
    found = {t.pk: t for t in _visible(RescueTeam, actor).select_for_update(of=("self",))
             .filter(pk__in=ids).select_related("organisation")}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(f"队伍不存在或不在您的权限范围内：{missing} / team not found", field="teams")
    already = set(CallOut.objects.filter(incident=incident, team_id__in=ids, status__in=ACTIVE_CALLOUT_STATUSES)
                  .values_list("team_id", flat=True))
    for team_id in ids:
        team = found[team_id]
        if team_id in already:
            raise Conflict(f"「{team.name}」已调派到本险情 / the team is already on this incident", field="teams")
        if not team.is_active:
            raise Conflict(f"「{team.name}」已停用 / the team is inactive", field="teams")
        if team.availability != Availability.STANDBY:
            raise Conflict(f"「{team.name}」当前为「{team.get_availability_display()}」，只能调派待命队伍 / only "
                           "standby teams can be called out", field="teams")
    now = timezone.now()
    url = incident_url(incident)
    made = []
    for team_id in ids:
        team = found[team_id]
        before = snapshot(team)
        callout = CallOut.objects.create(incident=incident, team=team, task=task, called_at=now,
                                         called_by=actor if getattr(actor, "is_authenticated", False) else None)
        team.availability = Availability.DEPLOYED
        team.save(update_fields=["availability", "updated_at"])
        sla.start_clock(target=callout, kind=ACK_CLOCK, limit=("natural_hours", ack_minutes() / 60), at=now,
                        region_code=incident.region_code)
        _step(incident, actor, "callout", team=team, note=task, at=now, data={"callout": callout.pk})
        record(actor=actor, action="rescue.callout", target=callout, after=snapshot(callout),
               region_code=incident.region_code, data={"team": team.code, "incident": incident.code})
        record(actor=actor, action="rescue.team_availability", target=team, before=before, after=snapshot(team),
               data={"reason": f"调派至 {incident.code}"})
        for user in team_accounts(team):
            notify(user, "rescue_callout", f"抢险调派：{incident.title}",
                   f"{team.name}请立即响应。险情 {incident.code}，{incident.address or ''}。{task}".strip(),
                   target=incident, dedupe_key=f"rescue.callout:{callout.pk}:{user.pk}", url=url)
        publish("rescue.callout", aggregate=incident, payload={
            "incident": incident.pk, "callout": callout.pk, "team": team.pk})
        made.append(callout)
    return made


def _callout_for(actor, callout: CallOut | int) -> CallOut:
    pk = callout.pk if isinstance(callout, CallOut) else _pk(callout)
    found = (CallOut.objects.select_for_update().filter(
        pk=pk, incident__in=_visible(Incident, actor)).first())
    if found is None:
        raise NotFound(NOT_FOUND)
    found = CallOut.objects.select_related("incident", "team").get(pk=found.pk)
    return found


def may_respond(actor, callout: CallOut) -> bool:
    """Whether the actor answers for the call-out's team (its accounts, its street's staff, the centre)."""
    team = callout.team
    return _covers(actor, "rescue.respond", team.region_code, team.organisation_id)


def _check_respond(actor, callout: CallOut) -> None:
    _need(actor, "rescue.respond", "代表队伍响应")
    if not may_respond(actor, callout):
        raise PermissionDenied("只有被调派队伍的账号可以响应 / only the team called out may answer")


def _stop_ack_clock(callout: CallOut, at) -> None:
    if sla.open_clock(callout, ACK_CLOCK) is not None:
        sla.stop_clock(target=callout, kind=ACK_CLOCK, at=at)


def _start_responding(incident: Incident, actor, at) -> None:
    if incident.status == IncidentStatus.REPORTED:
        incident.status = IncidentStatus.RESPONDING
        incident.save(update_fields=["status", "updated_at"])
        _step(incident, actor, "respond", from_status=IncidentStatus.REPORTED, to_status=IncidentStatus.RESPONDING,
              at=at, note="队伍已响应，转入处置", note_en="a team responded: the incident is being handled")


@transaction.atomic
def acknowledge(*, actor, callout: CallOut | int, people=None, note: str = "") -> CallOut:
    """响应: the team confirms the call-out (how many people set off); the incident goes 处置中."""
    callout = _callout_for(actor, callout)
    _check_respond(actor, callout)
    if callout.status != CallOutStatus.CALLED:
        raise Conflict(f"调派当前为「{callout.get_status_display()}」，不能再响应 / already answered")
    if not callout.incident.is_open:
        raise Conflict("险情已结束 / the incident is closed")
    if people not in (None, ""):
        try:
            people = int(people)
        except (TypeError, ValueError):
            raise ValidationFailed("出动人数须为整数 / people must be an integer", field="people") from None
        if not 0 < people <= 10_000:
            raise ValidationFailed("出动人数超出范围 / people out of range", field="people")
    else:
        people = None
    note = _text(note, "note", 500, label="说明")
    now = timezone.now()
    before = snapshot(callout)
    callout.status = CallOutStatus.ACKNOWLEDGED
    callout.acknowledged_at, callout.acknowledged_by = now, actor
    callout.people, callout.note = people, note or callout.note
    callout.save()
    _stop_ack_clock(callout, now)
    incident = Incident.objects.select_for_update().get(pk=callout.incident_id)
    _step(incident, actor, "acknowledge", team=callout.team, at=now, note=note,
          data={"callout": callout.pk, "people": people})
    _start_responding(incident, actor, now)
    record(actor=actor, action="rescue.acknowledged", target=callout, before=before, after=snapshot(callout),
           region_code=incident.region_code)
    publish("rescue.acknowledged", aggregate=incident, payload={"incident": incident.pk, "callout": callout.pk,
                                                                "team": callout.team_id})
    return callout


@transaction.atomic
def arrive(*, actor, callout: CallOut | int, note: str = "") -> CallOut:
    """到达: the team reports it is on site (an arrival without a separate acknowledgement counts as both)."""
    callout = _callout_for(actor, callout)
    _check_respond(actor, callout)
    if callout.status not in (CallOutStatus.CALLED, CallOutStatus.ACKNOWLEDGED):
        raise Conflict(f"调派当前为「{callout.get_status_display()}」，不能登记到达 / cannot arrive now")
    if not callout.incident.is_open:
        raise Conflict("险情已结束 / the incident is closed")
    note = _text(note, "note", 500, label="说明")
    now = timezone.now()
    before = snapshot(callout)
    if callout.acknowledged_at is None:
        callout.acknowledged_at, callout.acknowledged_by = now, actor
    callout.status, callout.arrived_at = CallOutStatus.ARRIVED, now
    callout.save()
    _stop_ack_clock(callout, now)
    incident = Incident.objects.select_for_update().get(pk=callout.incident_id)
    _step(incident, actor, "arrive", team=callout.team, at=now, note=note, data={"callout": callout.pk})
    _start_responding(incident, actor, now)
    record(actor=actor, action="rescue.arrived", target=callout, before=before, after=snapshot(callout),
           region_code=incident.region_code)
    publish("rescue.arrived", aggregate=incident, payload={"incident": incident.pk, "callout": callout.pk})
    return callout


def _release(actor, callout: CallOut, incident: Incident, now, availability: str, note: str) -> None:
    before = snapshot(callout)
    callout.status, callout.released_at = CallOutStatus.RELEASED, now
    callout.released_by = actor if getattr(actor, "is_authenticated", False) else None
    callout.save()
    _stop_ack_clock(callout, now)
    team = RescueTeam.objects.select_for_update().get(pk=callout.team_id)
    still = CallOut.objects.filter(team=team, status__in=ACTIVE_CALLOUT_STATUSES).exists()
    if not still and team.availability == Availability.DEPLOYED:
        team_before = snapshot(team)
        team.availability = availability
        team.save(update_fields=["availability", "updated_at"])
        record(actor=actor, action="rescue.team_availability", target=team, before=team_before,
               after=snapshot(team), data={"reason": f"自 {incident.code} 归队"})
    _step(incident, actor, "release", team=team, at=now, note=note,
          data={"callout": callout.pk, "availability": team.availability})
    record(actor=actor, action="rescue.released", target=callout, before=before, after=snapshot(callout),
           region_code=incident.region_code)
    publish("rescue.released", aggregate=incident, payload={"incident": incident.pk, "callout": callout.pk,
                                                            "team": team.pk})


@transaction.atomic
def release(*, actor, callout: CallOut | int, availability: str = Availability.STANDBY, note: str = "") -> CallOut:
    """归队: the commander (or the team) ends a call-out; the team goes back to 待命 (or 休整)."""
    callout = _callout_for(actor, callout)
    incident = callout.incident
    commands = _can(actor, "rescue.command") and _covers(actor, "rescue.command", incident.region_code)
    if not (commands or (_can(actor, "rescue.respond") and may_respond(actor, callout))):
        raise PermissionDenied("您无权办理该队伍归队 / you may not release this team")
    if not callout.is_active:
        raise Conflict("该队伍已归队 / the team has already been released")
    availability = _choice(availability or Availability.STANDBY, Availability, "availability", "归队后状态")
    if availability == Availability.DEPLOYED:
        raise ValidationFailed("归队后状态须为待命或休整 / after release a team is standby or resting",
                               field="availability")
    note = _text(note, "note", 500, label="说明")
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    _release(actor, callout, incident, timezone.now(), availability, note)
    return callout


@transaction.atomic
def control(*, actor, incident: Incident | int, note: str = "") -> Incident:
    """险情已控制: the situation is under control (teams may stay until released or the incident closes)."""
    incident = _command_incident(actor, incident, "control", {"note": note})
    note = _text(note, "note", 2000, label="说明", required=True)
    now = timezone.now()
    before = snapshot(incident)
    incident.status, incident.controlled_at = IncidentStatus.CONTROLLED, now
    incident.save(update_fields=["status", "controlled_at", "updated_at"])
    _step(incident, actor, "control", from_status=before["status"], to_status=incident.status, note=note, at=now)
    record(actor=actor, action="rescue.incident_controlled", target=incident, before=before, after=snapshot(incident))
    publish("rescue.incident_controlled", aggregate=incident, payload={"incident": incident.pk})
    return incident


@transaction.atomic
def start_response(*, actor, incident: Incident | int, note: str = "") -> Incident:
    """开始处置 without waiting for a team's answer (e.g. street staff already on site)."""
    incident = _command_incident(actor, incident, "respond", {"note": note})
    before = snapshot(incident)
    _start_responding(incident, actor, timezone.now())
    record(actor=actor, action="rescue.incident_responding", target=incident, before=before,
           after=snapshot(incident))
    publish("rescue.incident_responding", aggregate=incident, payload={"incident": incident.pk})
    return incident


@transaction.atomic
def add_note(*, actor, incident: Incident | int, note: str = "") -> IncidentStep:
    incident = _command_incident(actor, incident, "note", {"note": note})
    note = _text(note, "note", 4000, label="进展", required=True)
    step = _step(incident, actor, "note", note=note)
    record(actor=actor, action="rescue.incident_note", target=incident, data={"step": step.pk})
    publish("rescue.incident_note", aggregate=incident, payload={"incident": incident.pk, "step": step.pk})
    return step


@transaction.atomic
def close_incident(*, actor, incident: Incident | int, summary: str = "", actions: str = "", losses: str = "",
                   lessons: str = "") -> Incident:
    """结束险情 with the closing report (经过、措施、损失、教训, all required); teams still out are released."""
    inputs = {"summary": summary, "actions": actions, "losses": losses, "lessons": lessons}
    labels = {"summary": "险情经过", "actions": "处置措施", "losses": "损失情况", "lessons": "经验教训"}
    # State, capability and scope first (with the report's presence checked below, in words people use).
    incident = _command_incident(actor, incident, "close", dict.fromkeys(REPORT_FIELDS, "-"))
    missing = [f for f in REPORT_FIELDS if not str(inputs.get(f) or "").strip()]
    if missing:
        names = "、".join(labels[f] for f in missing)
        raise ValidationFailed(f"结束险情须填写总结报告：{names} / the closing report needs: {', '.join(missing)}",
                               field=missing[0])
    report = {f: _text(inputs[f], f, 4000 if f in ("summary", "actions") else 2000, label=labels[f], required=True)
              for f in REPORT_FIELDS}
    now = timezone.now()
    for callout in CallOut.objects.filter(incident=incident, status__in=ACTIVE_CALLOUT_STATUSES).order_by("pk"):
        _release(actor, callout, incident, now, Availability.STANDBY, "险情结束，自动归队")
    before = snapshot(incident)
    incident.status, incident.closed_at = IncidentStatus.CLOSED, now
    incident.closed_by = actor if getattr(actor, "is_authenticated", False) else None
    incident.report_summary, incident.report_actions = report["summary"], report["actions"]
    incident.report_losses, incident.report_lessons = report["losses"], report["lessons"]
    incident.save()
    _step(incident, actor, "close", from_status=before["status"], to_status=incident.status, at=now,
          note=report["summary"])
    record(actor=actor, action="rescue.incident_closed", target=incident, before=before, after=snapshot(incident))
    publish("rescue.incident_closed", aggregate=incident, payload={"incident": incident.pk, "code": incident.code})
    return incident


# ------------------------------------------------------------------------------------------------ materials


def materials_service():
    """The materials app's `issue_to_incident`, or None while that app does not offer it."""
    try:
        from civicgrid.apps.materials import services as materials
    except ImportError:
        return None
    return getattr(materials, "issue_to_incident", None)


def _quantity(value) -> Decimal:
    try:
        qty = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed("数量须为数字 / quantity must be a number", field="quantity") from None
    if not qty.is_finite() or qty <= 0 or qty > Decimal("1e9"):
        raise ValidationFailed("数量须大于 0 / quantity must be positive", field="quantity")
    return qty


@transaction.atomic
def issue_material(*, actor, incident: Incident | int, warehouse, item, quantity, note: str = "") -> IncidentMaterial:
    """调拨物资: stock leaves a warehouse for the incident through the materials service (which checks the
    actor's rights over the warehouse, refuses stock going negative and records its own movements and audit);
    the incident keeps a line for its page and timeline. A refusal there rolls back everything here."""
    inputs = {"warehouse": warehouse, "item": item, "quantity": quantity}
    incident = _command_incident(actor, incident, "issue_material", inputs)
    qty = _quantity(quantity)
    note = _text(note, "note", 200, label="说明")
    issue = materials_service()
    if issue is None:
        raise Conflict("应急物资模块尚未提供出库服务 / the materials service is not available yet")
    moved = issue(actor=actor, warehouse=warehouse, item=item, quantity=int(qty) if qty == qty.to_integral() else qty,
                  incident_ref=incident.code, note=note or f"险情 {incident.code} {incident.title}"[:200])
    moved = list(moved) if isinstance(moved, list | tuple) else [moved]
    first = moved[0]
    wh, it = first.warehouse, first.item
    row = IncidentMaterial.objects.create(
        incident=incident, warehouse_id=wh.pk, warehouse_name=wh.name[:100], item_id=it.pk, item_name=it.name[:100],
        unit=it.unit[:16], quantity=sum((abs(Decimal(m.quantity)) for m in moved), Decimal(0)),
        movement_ref=",".join(str(m.pk) for m in moved)[:64], note=note, issued_at=timezone.now(),
        issued_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _step(incident, actor, "issue_material", note=note, at=row.issued_at,
          data={"material": row.pk, "warehouse": row.warehouse_name, "item": row.item_name,
                "quantity": f"{row.quantity.normalize():f}", "unit": row.unit})
    record(actor=actor, action="rescue.material_issued", target=incident, data={
        "material": row.pk, "warehouse": row.warehouse_id, "item": row.item_id, "quantity": str(row.quantity),
        "movements": row.movement_ref})
    publish("rescue.material_issued", aggregate=incident, payload={
        "incident": incident.pk, "material": row.pk, "warehouse": row.warehouse_id, "item": row.item_id,
        "quantity": str(row.quantity)})
    return row


# ------------------------------------------------------------------------------------------------ one entry


def act(*, actor, incident: Incident | int, action: str, **inputs):
    """One incident action by name (pages and API): the workflow's transitions."""
    for name, value in inputs.items():  # a NUL is refused, never stored (`core.text`; PostgreSQL cannot)
        refuse_nul(value, name)
    if action == "callout":
        return call_out(actor=actor, incident=incident, teams=inputs.get("teams") or [], task=inputs.get("task", ""))
    if action == "issue_material":
        return issue_material(actor=actor, incident=incident, warehouse=inputs.get("warehouse"),
                              item=inputs.get("item"), quantity=inputs.get("quantity"), note=inputs.get("note", ""))
    if action == "respond":
        return start_response(actor=actor, incident=incident, note=inputs.get("note", ""))
    if action == "control":
        return control(actor=actor, incident=incident, note=inputs.get("note", ""))
    if action == "close":
        return close_incident(actor=actor, incident=incident, **{f: inputs.get(f, "") for f in REPORT_FIELDS})
    if action == "note":
        return add_note(actor=actor, incident=incident, note=inputs.get("note", ""))
    raise ValidationFailed(f"未知操作：{action[:32]} / unknown action", field="action")
