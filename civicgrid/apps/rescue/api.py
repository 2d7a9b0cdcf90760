"""Rescue API under /api/v1/rescue/: teams (list, filter by skill and availability, detail, create, edit,
members, availability), incidents (list, raise, detail with call-outs, materials and timeline), call-out,
acknowledge, arrive, release, materials, notes, control and close; the teams roster and the incidents ledger as
xlsx (`teams/export.xlsx`, `incidents/export.xlsx`, the lists' filters). Handlers call selectors and services."""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Query, Router, Schema
from ninja.responses import Status

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.api_json import documented_enum
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.pagination import Limit, Offset, page

from . import selectors, services, xlsx
from .models import (
    Availability,
    CallOut,
    Incident,
    IncidentKind,
    IncidentStatus,
    RescueMember,
    RescueTeam,
    Severity,
    TeamKind,
)
from .schemas import (
    RescueAckIn,
    RescueAvailabilityIn,
    RescueCallOutIn,
    RescueCloseIn,
    RescueIncidentDetailOut,
    RescueIncidentIn,
    RescueIncidentListOut,
    RescueMaterialIn,
    RescueMemberIn,
    RescueMemberOut,
    RescueMemberPatch,
    RescueNoteIn,
    RescueReleaseIn,
    RescueTeamDetailOut,
    RescueTeamIn,
    RescueTeamListOut,
    RescueTeamPatch,
)
from .workflow import STEP_LABELS

router = Router(tags=["rescue"])
PREFIX = "/rescue/"


# ------------------------------------------------------------------------------------------------ shaping


def member_out(m: RescueMember) -> dict:
    return {"id": m.pk, "name": m.name, "role": m.role, "phone": m.phone_masked,
            "skills": [c for c in m.skills.split(",") if c], "skill_labels": m.skill_labels,
            "certificates": m.certificates, "is_synthetic": m.is_synthetic}


def team_out(t: RescueTeam) -> dict:
    return {
        "id": t.pk, "code": t.code, "name": t.name, "kind": t.kind, "kind_label": t.get_kind_display(),
        "region_code": t.region_code, "region_name": t.region.name, "organisation": t.organisation_id,
        "organisation_name": t.organisation.name if t.organisation_id else "", "leader_name": t.leader_name,
        "leader_phone": t.leader_phone_masked, "availability": t.availability,
        "availability_label": t.get_availability_display(), "headcount": t.headcount,
        "member_count": t.member_count if hasattr(t, "member_count") else t.members.filter(is_active=True).count(),
        "skills": t.skill_list, "skill_labels": t.skill_labels, "equipment": t.equipment or [],
        "is_active": t.is_active, "is_synthetic": t.is_synthetic,
    }


def team_detail_out(t: RescueTeam) -> dict:
    members = list(t.members.all())
    out = team_out(t)
    out.update({"member_count": len(members), "equipment_note": t.equipment_note, "base_address": t.base_address,
                "lng": t.lng, "lat": t.lat, "note": t.note, "members": [member_out(m) for m in members],
                "active_incidents": [c.incident.code for c in getattr(t, "active_callouts", [])]})
    return out


def incident_out(i: Incident) -> dict:
    i.load_patron()
    return {
        "id": i.pk, "code": i.code, "title": i.title, "kind": i.kind, "kind_label": i.get_kind_display(),
        "severity": i.severity, "severity_label": i.get_severity_display(), "status": i.status,
        "status_label": i.get_status_display(), "source": i.source, "hazard": i.hazard_id,
        "hazard_code": i.hazard.code if i.hazard_id else "", "case_number": i.case_number,
        "reading_ref": i.reading_ref, "station": i.station, "lng": i.lng, "lat": i.lat, "address": i.address,
        "grid_code": i.grid.code if i.grid_id else "", "grid_name": i.grid.name if i.grid_id else "",
        "region_code": i.region_code, "street_code": i.street_code,
        "patron_department": i.patron_department_name, "patron_department_id": i.patron_department_id,
        "opened_at": i.opened_at,
        "closed_at": i.closed_at,
        "team_count": i.team_count if hasattr(i, "team_count") else sum(c.is_active for c in i.callouts.all()),
    }


def callout_out(c: CallOut, incident: Incident, user) -> dict:
    return {
        "id": c.pk, "team": c.team_id, "team_name": c.team.name, "team_leader": c.team.leader_name,
        "team_phone": c.team.leader_phone_masked, "status": c.status, "status_label": c.get_status_display(),
        "task": c.task, "called_at": c.called_at, "acknowledged_at": c.acknowledged_at, "arrived_at": c.arrived_at,
        "released_at": c.released_at, "people": c.people, "note": c.note,
        "actions": selectors.callout_actions(c, incident, user),
    }


def incident_detail_out(i: Incident, user) -> dict:
    out = incident_out(i)
    out.update({
        "description": i.description, "controlled_at": i.controlled_at, "report_summary": i.report_summary,
        "report_actions": i.report_actions, "report_losses": i.report_losses, "report_lessons": i.report_lessons,
        "callouts": [callout_out(c, i, user) for c in i.callouts.all()],
        "materials": [{"id": m.pk, "warehouse_id": m.warehouse_id, "warehouse_name": m.warehouse_name,
                       "item_id": m.item_id, "item_name": m.item_name, "unit": m.unit, "quantity": m.quantity,
                       "issued_at": m.issued_at, "note": m.note} for m in i.materials.all()],
        "timeline": [{"action": s.action, "label": STEP_LABELS.get(s.action, s.action), "from_status": s.from_status,
                      "to_status": s.to_status, "team": s.team.name if s.team_id else "", "actor": s.actor_name,
                      "note": s.note, "at": s.at} for s in i.steps.all()],
        "allowed_actions": [t.name for t in selectors.allowed_actions(i, user)],
    })
    return out


def _incident(request, incident_id: int) -> dict:
    return incident_detail_out(selectors.incident_detail(request.user, incident_id), request.user)


# --------------------------------------------------------------------------------------------------- teams


class RescueTeamQueryIn(Schema):
    skill: str = ""
    availability: documented_enum(Availability.values, "a team's availability", blank=True) = ""
    kind: documented_enum(TeamKind.values, "a team's kind", blank=True) = ""
    region: str = ""
    q: str = ""


class RescueTeamFilterIn(RescueTeamQueryIn):
    limit: Limit = 50
    offset: Offset = 0


def _xlsx(which: str, request, filters) -> HttpResponse:
    body, name = xlsx.export_for(actor=request.user, which=which, filters=filters)
    return file_response(body, name, XLSX_TYPE)


@router.get("/teams", response={200: RescueTeamListOut, **errors(400, 401, 422)}, url_name="rescue_team_list")
def list_teams(request, filters: Query[RescueTeamFilterIn]):
    """Teams you may see; filters: skill (e.g. water_rescue), availability (standby|deployed|resting), kind
    (main|street|social), region (a code: teams serving it), q. Phones are masked."""
    f = selectors.TeamFilter(**filters.dict(exclude={"limit", "offset"}))
    items, total = page(selectors.team_list(request.user, f), limit=filters.limit, offset=filters.offset)
    return {"items": [team_out(t) for t in items], "count": len(items), "total": total}


@router.get("/teams/export.xlsx", url_name="rescue_team_export", response={200: None, **errors(400, 401, 403, 422)})
def export_teams(request, filters: Query[RescueTeamQueryIn]):
    """抢险队伍名册 as xlsx in the office layout (title, 填报单位/日期, 序号, footer to sign): the teams you may
    see with the list's filters; members count, skills, equipment, availability, street and its 包保 department.
    Every export is audited."""
    return _xlsx("teams", request, selectors.TeamFilter(**filters.dict()))


@router.post("/teams", response={201: RescueTeamDetailOut, **errors(400, 401, 403, 409, 422)},
             url_name="rescue_team_create")
def create_team(request, payload: RescueTeamIn):
    """Register a team in a region you manage (`rescue.manage`)."""
    data = payload.dict()
    data["equipment"] = [dict(e) for e in data["equipment"]]
    team = services.create_team(actor=request.user, **data)
    return Status(201, team_detail_out(selectors.team_detail(request.user, team.pk)))


@router.get("/teams/{team_id}", response={200: RescueTeamDetailOut, **errors(401, 404, 422)},
            url_name="rescue_team_detail")
def get_team(request, team_id: int):
    """One team with its members (phones masked), equipment and current call-outs (404 outside your scope)."""
    return team_detail_out(selectors.team_detail(request.user, team_id))


@router.patch("/teams/{team_id}", response={200: RescueTeamDetailOut, **errors(400, 401, 403, 404, 409, 422)},
              url_name="rescue_team_update")
def update_team(request, team_id: int, payload: RescueTeamPatch):
    """Edit a team (only the fields sent); audited with before and after."""
    changes = payload.dict(exclude_unset=True)
    if changes.get("equipment") is not None:
        changes["equipment"] = [dict(e) for e in changes["equipment"]]
    services.update_team(actor=request.user, team=team_id, **changes)
    return team_detail_out(selectors.team_detail(request.user, team_id))


@router.post("/teams/{team_id}/availability",
             response={200: RescueTeamDetailOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="rescue_team_availability")
def set_availability(request, team_id: int, payload: RescueAvailabilityIn):
    """待命 ↔ 休整 (出勤 follows call-outs)."""
    services.set_availability(actor=request.user, team=team_id, **payload.dict())
    return team_detail_out(selectors.team_detail(request.user, team_id))


@router.post("/teams/{team_id}/members", response={201: RescueMemberOut, **errors(400, 401, 403, 404, 422)},
             url_name="rescue_member_add")
def add_member(request, team_id: int, payload: RescueMemberIn):
    """Add a member (phone encrypted, answered masked; skills by code or Chinese name)."""
    return Status(201, member_out(services.add_member(actor=request.user, team=team_id, **payload.dict())))


@router.patch("/members/{member_id}", response={200: RescueMemberOut, **errors(400, 401, 403, 404, 422)},
              url_name="rescue_member_update")
def update_member(request, member_id: int, payload: RescueMemberPatch):
    """Edit a member (only the fields sent); `is_active=false` takes them off the team."""
    return member_out(services.update_member(actor=request.user, member=member_id,
                                             **payload.dict(exclude_unset=True)))


# ----------------------------------------------------------------------------------------------- incidents


class RescueIncidentQueryIn(Schema):
    status: documented_enum(IncidentStatus.values, "an incident status", blank=True) = ""
    kind: documented_enum(IncidentKind.values, "an incident kind", blank=True) = ""
    severity: documented_enum(Severity.values, "an incident severity", blank=True) = ""
    region: str = ""
    q: str = ""


class RescueIncidentFilterIn(RescueIncidentQueryIn):
    limit: Limit = 50
    offset: Offset = 0


@router.get("/incidents", response={200: RescueIncidentListOut, **errors(400, 401, 422)},
            url_name="rescue_incident_list")
def list_incidents(request, filters: Query[RescueIncidentFilterIn]):
    """Incidents you may see, newest first; filters: status (or `open`), kind, severity, region, q."""
    f = selectors.IncidentFilter(**filters.dict(exclude={"limit", "offset"}))
    items, total = page(selectors.incident_list(request.user, f), limit=filters.limit, offset=filters.offset)
    return {"items": [incident_out(i) for i in items], "count": len(items), "total": total}


@router.get("/incidents/export.xlsx", url_name="rescue_incident_export",
            response={200: None, **errors(400, 401, 403, 422)})
def export_incidents(request, filters: Query[RescueIncidentQueryIn]):
    """险情处置台账 as xlsx in the office layout: the incidents you may see with the list's filters; number, source,
    street, 包保 department, status, call-outs, opened and closed times and the closing report. Audited."""
    return _xlsx("incidents", request, selectors.IncidentFilter(**filters.dict()))


@router.post("/incidents", response={201: RescueIncidentDetailOut, **errors(400, 401, 403, 422)},
             url_name="rescue_incident_create")
def raise_incident(request, payload: RescueIncidentIn):
    """报告险情: from a hazard (`hazard`), a case (`case`), a flood reading (`reading_ref`/`station`, with a
    location) or directly at `lng`/`lat` (WGS-84)."""
    incident = services.raise_incident(actor=request.user, **payload.dict())
    return Status(201, _incident(request, incident.pk))


@router.get("/incidents/{incident_id}", response={200: RescueIncidentDetailOut, **errors(401, 404, 422)},
            url_name="rescue_incident_detail")
def get_incident(request, incident_id: int):
    """One incident with its call-outs, materials, timeline and the actions you may take now."""
    return _incident(request, incident_id)


@router.post("/incidents/{incident_id}/callouts",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)}, url_name="rescue_callout")
def call_out(request, incident_id: int, payload: RescueCallOutIn):
    """调派 one or more 待命 teams (409 for a team that is not on standby; nothing is dispatched then)."""
    services.call_out(actor=request.user, incident=incident_id, teams=payload.teams, task=payload.task)
    return _incident(request, incident_id)


@router.post("/callouts/{callout_id}/acknowledge",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="rescue_acknowledge")
def acknowledge(request, callout_id: int, payload: RescueAckIn | None = None):
    """响应 by the team called out (its accounts)."""
    data = (payload or RescueAckIn()).dict()
    callout = services.acknowledge(actor=request.user, callout=callout_id, **data)
    return _incident(request, callout.incident_id)


@router.post("/callouts/{callout_id}/arrive",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)}, url_name="rescue_arrive")
def arrive(request, callout_id: int, payload: RescueNoteIn | None = None):
    """到达 on site."""
    callout = services.arrive(actor=request.user, callout=callout_id, note=(payload or RescueNoteIn()).note)
    return _incident(request, callout.incident_id)


@router.post("/callouts/{callout_id}/release",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)}, url_name="rescue_release")
def release(request, callout_id: int, payload: RescueReleaseIn | None = None):
    """归队: the team goes back to 待命 (or 休整)."""
    callout = services.release(actor=request.user, callout=callout_id, **(payload or RescueReleaseIn()).dict())
    return _incident(request, callout.incident_id)


@router.post("/incidents/{incident_id}/materials",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="rescue_material")
def issue_material(request, incident_id: int, payload: RescueMaterialIn):
    """调拨物资 from a warehouse to the incident through the materials service."""
    services.issue_material(actor=request.user, incident=incident_id, **payload.dict())
    return _incident(request, incident_id)


@router.post("/incidents/{incident_id}/close",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)}, url_name="rescue_close")
def close(request, incident_id: int, payload: RescueCloseIn):
    """结束险情 with the closing report (summary, actions, losses, lessons: all required, else 400 and nothing
    changes). Teams still out are released."""
    services.close_incident(actor=request.user, incident=incident_id, **payload.dict())
    return _incident(request, incident_id)


@router.post("/incidents/{incident_id}/actions/{action}",
             response={200: RescueIncidentDetailOut, **errors(400, 401, 403, 404, 409, 422)},
             url_name="rescue_incident_action")
def act(request, incident_id: int, action: documented_enum(("note", "respond", "control"), "the action"), payload: RescueNoteIn | None = None):
    """Other actions: `note` (添加进展), `respond` (开始处置), `control` (险情已控制, note required)."""
    if action not in ("note", "respond", "control"):
        from civicgrid.foundation.core.errors import ValidationFailed

        raise ValidationFailed("未知操作 / unknown action (note|respond|control)", field="action")
    services.act(actor=request.user, incident=incident_id, action=action, note=(payload or RescueNoteIn()).note)
    return _incident(request, incident_id)


data_endpoint("api:rescue_team_list", "rescue.RescueTeam", "list")
data_endpoint("api:rescue_team_detail", "rescue.RescueTeam", "detail", lookup="team_id")
data_endpoint("api:rescue_incident_list", "rescue.Incident", "list")
data_endpoint("api:rescue_team_export", "rescue.RescueTeam", "export")
data_endpoint("api:rescue_incident_export", "rescue.Incident", "export")
data_endpoint("api:rescue_incident_detail", "rescue.Incident", "detail", lookup="incident_id")
non_data_endpoint("api:rescue_team_create", "api:rescue_team_update", "api:rescue_team_availability",
                  "api:rescue_member_add", "api:rescue_member_update", "api:rescue_incident_create",
                  "api:rescue_callout", "api:rescue_acknowledge", "api:rescue_arrive", "api:rescue_release",
                  "api:rescue_material", "api:rescue_close", "api:rescue_incident_action")
