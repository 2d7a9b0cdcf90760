"""抢险救援 pages under /rescue/: incidents (list with map, raise form incl. from a hazard, detail with
call-outs, materials, timeline and the buttons the workflow allows) and teams (list filtered by skill and
availability, detail with members, edit, members, availability); each list links to its xlsx export (险情处置台账,
抢险队伍名册) with the list's filters.

Thin: every read comes from `civicgrid.apps.rescue.selectors` (scoped), every write from its services; a
refusal re-draws the page with the message and nothing changed (the services work in one transaction).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from civicgrid.apps.rescue import selectors, services, xlsx
from civicgrid.apps.rescue.models import (
    SKILLS,
    Availability,
    Incident,
    IncidentKind,
    IncidentStatus,
    RescueTeam,
    Severity,
    TeamKind,
)
from civicgrid.apps.rescue.workflow import INCIDENT_WORKFLOW, REPORT_FIELDS, STEP_LABELS
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_or_refusal
from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.ui.navigation import MenuItem, register

from .cases_shared import error_text
from .common import capability_required, page_view, paginate, region_choices

STATUS_STYLE = {"reported": "st-new", "responding": "st-work", "controlled": "st-check", "closed": "st-done"}
AVAILABILITY_STYLE = {"standby": "st-done", "deployed": "st-work", "resting": "st-hold"}
REPORT_LABELS = {"summary": _("险情经过"), "actions": _("处置措施"), "losses": _("损失情况"), "lessons": _("经验教训")}
CALLOUT_LABELS = {"acknowledge": _("响应"), "arrive": _("到达现场"), "release": _("归队")}


def _get_or_404(fn, *args):
    try:
        return fn(*args)
    except NotFound:
        raise Http404 from None


# ------------------------------------------------------------------------------------------------ incidents


def _incident_filter(request) -> selectors.IncidentFilter:
    g = request.GET
    return selectors.IncidentFilter(status=g.get("status", "open") or "", kind=g.get("kind", ""),
                                    severity=g.get("severity", ""), region=g.get("region", ""), q=g.get("q", ""))


def _team_filter(request) -> selectors.TeamFilter:
    g = request.GET
    return selectors.TeamFilter(skill=g.get("skill", ""), availability=g.get("availability", ""),
                                kind=g.get("kind", ""), region=g.get("region", ""), q=g.get("q", ""))


def _export_query(request) -> str:
    """The list's filters for its export link (the page number left out)."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@page_view("rescue.view")
def incident_list(request):
    """Incidents in scope, open ones first by default, with their points on a map."""
    f = _incident_filter(request)
    page = paginate(request, selectors.incident_list(request.user, f))
    points = [{"id": i.pk, "code": i.code, "title": i.title, "lng": i.lng, "lat": i.lat, "status": i.status,
               "url": reverse("ui:rescue_incident_detail", args=[i.pk])} for i in page]
    return render(request, "rescue/incident_list.html", {
        "f": f, "page_obj": page, "rows": [{"i": i, "style": STATUS_STYLE.get(i.status, "")} for i in page],
        "points": points, "statuses": IncidentStatus.choices, "kinds": IncidentKind.choices,
        "severities": Severity.choices, "region_choices": region_choices(request.user, "rescue.view", f.region),
        "can_command": has_capability(request.user, "rescue.command"), "export_query": _export_query(request),
    })


def _hazard_for_form(user, hazard_id: str):
    from civicgrid.apps.hazards.models import Hazard

    if not (hazard_id or "").isdigit() or len(hazard_id) > 18:
        return None
    return Hazard.objects.visible_to(user, "view").filter(pk=int(hazard_id)).select_related("grid").first()


def _area(user):
    """The outline of the user's command area for the point picker's first view (one region, or None)."""
    from civicgrid.foundation.access.scope import scope_for
    from civicgrid.foundation.regions.models import Region

    scope = scope_for(user, "rescue.command")
    codes = sorted(scope.region_codes, key=len)
    code = "140213" if scope.everything or not codes else codes[0]
    return Region.objects.filter(code=code).values_list("geometry", flat=True).first()


INCIDENT_FORM_FIELDS = ("title", "kind", "severity", "description", "address", "lng", "lat", "hazard", "case",
                        "reading_ref", "station")


@require_http_methods(["GET", "POST"])
@capability_required("rescue.command")
def incident_new(request):
    """报告险情: directly at a point (map click or coordinates), or from a hazard (`?hazard=<id>`), a case
    (`?case=<number>`) or a flood reading (`?reading=<id>&station=…`)."""
    source = request.POST if request.method == "POST" else request.GET
    form = {k: (source.get(k) or "").strip()[:4000] for k in INCIDENT_FORM_FIELDS}
    if request.method == "GET":
        form["reading_ref"] = form["reading_ref"] or (request.GET.get("reading") or "").strip()[:64]
    hazard = _hazard_for_form(request.user, form["hazard"]) if form["hazard"] else None
    if hazard is not None and request.method == "GET" and not form["lng"]:
        form["lng"], form["lat"] = f"{hazard.lng:.6f}", f"{hazard.lat:.6f}"
    context = {"form": form, "hazard": hazard, "kinds": IncidentKind.choices, "severities": Severity.choices,
               "error": "", "area": _area(request.user)}
    if request.method == "GET":
        if form["hazard"] and hazard is None:
            context["error"] = _("隐患点不存在或不在您的权限范围内")
        return render(request, "rescue/incident_form.html", context)
    try:
        incident = services.raise_incident(
            actor=request.user, title=form["title"], description=form["description"], kind=form["kind"],
            severity=form["severity"] or Severity.GENERAL, hazard=form["hazard"] or None, case=form["case"] or None,
            reading_ref=form["reading_ref"], station=form["station"], lng=form["lng"] or None,
            lat=form["lat"] or None, address=form["address"])
    except CivicgridError as exc:
        context["error"] = error_text(exc)
        return render(request, "rescue/incident_form.html", context, status=exc.status)
    messages.success(request, _("已报告险情 %(code)s") % {"code": incident.code})
    return redirect("ui:rescue_incident_detail", incident.pk)


def _timeline(incident: Incident) -> list[dict]:
    states = dict(IncidentStatus.choices)
    return [{"step": s, "label": STEP_LABELS.get(s.action, s.action), "from_label": states.get(s.from_status, ""),
             "to_label": states.get(s.to_status, "")} for s in incident.steps.all()]


def _materials_available() -> bool:
    return services.materials_service() is not None


def _material_choices(user, incident: Incident) -> dict:
    """Warehouses the user may see (nearest to the incident first, with distance) and the active catalogue, read
    through the materials app's selectors; empty while that app is absent."""
    try:
        from civicgrid.apps.materials import selectors as material_selectors
        from civicgrid.apps.materials.models import MaterialItem
    except ImportError:
        return {"warehouses": [], "items": []}
    rows = list(material_selectors.warehouse_list(user, active_only=True)[:500])
    if rows:
        dist = material_selectors.haversine_m(incident.lat, incident.lng, [w.lat for w in rows], [w.lng for w in rows])
        rows = [{"id": w.pk, "name": w.name, "km": round(float(d) / 1000, 1)}
                for d, w in sorted(zip(dist, rows, strict=True), key=lambda p: (p[0], p[1].pk))][:50]
    items = list(MaterialItem.objects.filter(is_active=True).order_by("group", "code").values("id", "name", "unit"))
    return {"warehouses": rows, "items": items}


def detail_context(request, incident: Incident, *, error: str = "", failed: str = "", posted=None) -> dict:
    user = request.user
    allowed = [t for t in selectors.allowed_actions(incident, user)
               if t.name != "issue_material" or _materials_available()]
    names = {t.name for t in allowed}
    callouts = [{"c": c, "actions": [{"name": a, "label": CALLOUT_LABELS[a],
                                      "url": reverse("ui:rescue_callout_act", args=[c.pk, a])}
                                     for a in selectors.callout_actions(c, incident, user)]}
                for c in incident.callouts.all()]
    return {
        "incident": incident, "style": STATUS_STYLE.get(incident.status, ""), "error": error, "failed": failed,
        "posted": posted or {}, "actions": allowed, "names": names, "callouts": callouts,
        "teams": selectors.standby_teams(user, incident) if "callout" in names else [],
        "materials": list(incident.materials.all()), "timeline": _timeline(incident),
        "report_fields": [{"name": f, "label": REPORT_LABELS[f], "value": (posted or {}).get(f, "")}
                          for f in REPORT_FIELDS],
        "grid_geometry": incident.grid.geometry if incident.grid_id else None,
        "points": [{"lng": incident.lng, "lat": incident.lat, "code": incident.code, "title": incident.title,
                    "status": incident.status}],
        "materials_ready": _materials_available(),
        "history_url": reverse("ui:rescue_incident_history", args=[incident.pk]),
        **(_material_choices(user, incident) if "issue_material" in names else {"warehouses": [], "items": []}),
    }


@page_view("rescue.view")
def incident_detail(request, pk: int):
    incident = _get_or_404(selectors.incident_detail, request.user, pk)
    return render(request, "rescue/incident_detail.html", detail_context(request, incident))


ACT_INPUTS = ("note", "task", "warehouse", "item", "quantity", *REPORT_FIELDS)


@require_POST
@capability_required("rescue.view")
def incident_act(request, pk: int, action: str):
    """One incident action through `services.act`; on refusal the page again with why (nothing changed)."""
    incident = Incident.objects.visible_to(request.user).filter(pk=pk).first()
    if incident is None or action not in {t.name for t in INCIDENT_WORKFLOW.transitions}:
        raise Http404
    inputs = {k: request.POST.get(k, "").strip()[:4000] for k in ACT_INPUTS if k in request.POST}
    if action == "callout":
        inputs["teams"] = [v for v in request.POST.getlist("teams") if v.isdigit()]
    try:
        services.act(actor=request.user, incident=incident.pk, action=action, **inputs)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        fresh = selectors.incident_detail(request.user, pk)
        context = detail_context(request, fresh, error=error_text(exc), failed=action, posted=inputs)
        return render(request, "rescue/incident_detail.html", context, status=exc.status)
    label = next(t.label for t in INCIDENT_WORKFLOW.transitions if t.name == action)
    messages.success(request, _("已完成：%(label)s") % {"label": gettext(label)})
    return redirect("ui:rescue_incident_detail", pk)


@require_POST
@capability_required("rescue.view")
def callout_act(request, pk: int, action: str):
    """响应 / 到达 / 归队 of one call-out."""
    from civicgrid.apps.rescue.models import CallOut

    callout = CallOut.objects.filter(pk=pk, incident__in=Incident.objects.visible_to(request.user)).first()
    if callout is None or action not in CALLOUT_LABELS:
        raise Http404
    note = request.POST.get("note", "").strip()[:500]
    try:
        if action == "acknowledge":
            services.acknowledge(actor=request.user, callout=pk, people=request.POST.get("people") or None, note=note)
        elif action == "arrive":
            services.arrive(actor=request.user, callout=pk, note=note)
        else:
            services.release(actor=request.user, callout=pk, note=note,
                             availability=request.POST.get("availability") or Availability.STANDBY)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        fresh = selectors.incident_detail(request.user, callout.incident_id)
        return render(request, "rescue/incident_detail.html",
                      detail_context(request, fresh, error=error_text(exc)), status=exc.status)
    messages.success(request, _("已完成：%(label)s") % {"label": CALLOUT_LABELS[action]})
    return redirect("ui:rescue_incident_detail", callout.incident_id)


# ---------------------------------------------------------------------------------------------------- teams


@page_view("rescue.view")
def team_list(request):
    f = _team_filter(request)
    page = paginate(request, selectors.team_list(request.user, f))
    return render(request, "rescue/team_list.html", {
        "f": f, "page_obj": page, "rows": [{"t": t, "style": AVAILABILITY_STYLE.get(t.availability, "")}
                                           for t in page],
        "skills": SKILLS, "availabilities": Availability.choices, "kinds": TeamKind.choices,
        "region_choices": region_choices(request.user, "rescue.view", f.region),
        "can_manage": has_capability(request.user, "rescue.manage"), "export_query": _export_query(request),
    })


def _export_view(which: str, read_filter):
    @page_view("rescue.view")
    def view(request):
        return file_or_refusal(
            lambda: xlsx.export_for(actor=request.user, which=which, filters=read_filter(request)), XLSX_TYPE, error_text
        )

    view.__name__ = f"rescue_{which}_export"
    view.__doc__ = f"{xlsx.SHEETS[which]} ({which}) of the list's rows and filters as xlsx; audited as an export."
    return view


def _team_rights(user, team: RescueTeam) -> dict:
    manage = has_capability(user, "rescue.manage") and services._covers(user, "rescue.manage", team.region_code)
    respond = has_capability(user, "rescue.respond") and services._covers(
        user, "rescue.respond", team.region_code, team.organisation_id)
    return {"can_manage": manage, "can_set_availability": manage or respond}


def team_context(request, team: RescueTeam, *, error: str = "", posted=None) -> dict:
    return {"team": team, "style": AVAILABILITY_STYLE.get(team.availability, ""), "error": error,
            "members": list(team.members.all()), "active": getattr(team, "active_callouts", []),
            "skills": SKILLS, "availabilities": [a for a in Availability.choices if a[0] != "deployed"],
            "posted": posted or {}, "history_url": reverse("ui:rescue_team_history", args=[team.pk]),
            **_team_rights(request.user, team)}


@page_view("rescue.view")
def team_detail(request, pk: int):
    team = _get_or_404(selectors.team_detail, request.user, pk)
    return render(request, "rescue/team_detail.html", team_context(request, team))


def _equipment_lines(text: str) -> list[dict]:
    """"冲锋舟 2 艘" per line → [{"name": "冲锋舟", "quantity": 2, "unit": "艘"}]."""
    rows = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        name, qty, unit = parts[0], 0, ""
        if len(parts) > 1:
            qty = parts[1]
        if len(parts) > 2:
            unit = parts[2]
        rows.append({"name": name, "quantity": qty, "unit": unit})
    return rows


def _equipment_text(items) -> str:
    return "\n".join(f"{e.get('name', '')} {e.get('quantity', 0)} {e.get('unit', '')}".strip() for e in items or [])


TEAM_FORM_FIELDS = ("name", "kind", "leader_name", "leader_phone", "headcount", "equipment", "equipment_note",
                    "base_address", "note", "region_code", "code")


@require_http_methods(["GET", "POST"])
@capability_required("rescue.manage")
def team_new(request):
    form = {k: (request.POST.get(k) or "").strip()[:4000] for k in TEAM_FORM_FIELDS}
    context = {"form": form, "kinds": TeamKind.choices, "new": True, "error": "",
               "region_choices": region_choices(request.user, "rescue.manage", form["region_code"])}
    if request.method == "GET":
        return render(request, "rescue/team_form.html", context)
    try:
        team = services.create_team(
            actor=request.user, region_code=form["region_code"], code=form["code"], name=form["name"],
            kind=form["kind"], leader_name=form["leader_name"], leader_phone=form["leader_phone"],
            headcount=form["headcount"] or 0, equipment=_equipment_lines(form["equipment"]),
            equipment_note=form["equipment_note"], base_address=form["base_address"], note=form["note"])
    except CivicgridError as exc:
        context["error"] = error_text(exc)
        return render(request, "rescue/team_form.html", context, status=exc.status)
    messages.success(request, _("已登记队伍"))
    return redirect("ui:rescue_team_detail", team.pk)


@require_http_methods(["GET", "POST"])
@capability_required("rescue.manage")
def team_edit(request, pk: int):
    """Edit a team (audited). The phone field is left empty to keep the stored number (never shown in clear)."""
    team = _get_or_404(selectors.team_detail, request.user, pk)
    if not _team_rights(request.user, team)["can_manage"]:
        raise DjangoPermissionDenied  # seen (a district team from a street) but not theirs to edit
    if request.method == "GET":
        form = {"name": team.name, "kind": team.kind, "leader_name": team.leader_name, "leader_phone": "",
                "headcount": team.headcount, "equipment": _equipment_text(team.equipment),
                "equipment_note": team.equipment_note, "base_address": team.base_address, "note": team.note}
        return render(request, "rescue/team_form.html", {"form": form, "team": team, "kinds": TeamKind.choices,
                                                         "error": ""})
    form = {k: (request.POST.get(k) or "").strip()[:4000] for k in TEAM_FORM_FIELDS}
    changes = {k: form[k] for k in ("name", "kind", "leader_name", "equipment_note", "base_address", "note")}
    changes["headcount"] = form["headcount"] or 0
    changes["equipment"] = _equipment_lines(form["equipment"])
    if form["leader_phone"]:
        changes["leader_phone"] = form["leader_phone"]
    try:
        services.update_team(actor=request.user, team=team.pk, **changes)
    except CivicgridError as exc:
        return render(request, "rescue/team_form.html", {"form": form, "team": team, "kinds": TeamKind.choices,
                                                         "error": error_text(exc)}, status=exc.status)
    messages.success(request, _("已保存"))
    return redirect("ui:rescue_team_detail", team.pk)


@require_POST
@capability_required("rescue.manage")
def member_add(request, pk: int):
    team = _get_or_404(selectors.team_detail, request.user, pk)
    posted = {k: (request.POST.get(k) or "").strip()[:300] for k in ("name", "role", "phone", "certificates")}
    try:
        services.add_member(actor=request.user, team=team.pk, skills=request.POST.getlist("skills"), **posted)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        return render(request, "rescue/team_detail.html", team_context(request, team, error=error_text(exc),
                                                                       posted=posted), status=exc.status)
    messages.success(request, _("已添加队员"))
    return redirect("ui:rescue_team_detail", team.pk)


@require_POST
@capability_required("rescue.view")
def team_availability(request, pk: int):
    team = _get_or_404(selectors.team_detail, request.user, pk)
    try:
        services.set_availability(actor=request.user, team=team.pk, availability=request.POST.get("availability", ""),
                                  note=request.POST.get("note", "")[:500])
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        return render(request, "rescue/team_detail.html", team_context(request, team, error=error_text(exc)),
                      status=exc.status)
    messages.success(request, _("已更新队伍状态"))
    return redirect("ui:rescue_team_detail", team.pk)


def _history(model, fetch):
    """The audit trail of one team or incident the user may see (404 otherwise), as the shared partial."""

    @page_view("rescue.view")
    def view(request, pk: int):
        from civicgrid.foundation.audit.service import history

        from .audit import HISTORY_LIMIT, describe_all

        obj = _get_or_404(fetch, request.user, pk)
        entries = describe_all(history(obj)[:HISTORY_LIMIT], model, request.user)
        return render(request, "ui/partials/history.html", {"object": obj, "entries": entries,
                                                            "limit": HISTORY_LIMIT})

    return view


urlpatterns = [
    path("", incident_list, name="rescue_incident_list"),
    path("incidents/new/", incident_new, name="rescue_incident_new"),
    path("incidents/<int:pk>/", incident_detail, name="rescue_incident_detail"),
    path("incidents/<int:pk>/act/<str:action>/", incident_act, name="rescue_incident_act"),
    path("callouts/<int:pk>/<str:action>/", callout_act, name="rescue_callout_act"),
    path("export.xlsx", _export_view("incidents", _incident_filter), name="rescue_incident_export"),
    path("teams/", team_list, name="rescue_team_list"),
    path("teams/export.xlsx", _export_view("teams", _team_filter), name="rescue_team_export"),
    path("teams/new/", team_new, name="rescue_team_new"),
    path("teams/<int:pk>/", team_detail, name="rescue_team_detail"),
    path("teams/<int:pk>/edit/", team_edit, name="rescue_team_edit"),
    path("teams/<int:pk>/members/", member_add, name="rescue_member_add"),
    path("teams/<int:pk>/availability/", team_availability, name="rescue_team_availability"),
    path("incidents/<int:pk>/history/", _history(Incident, selectors.incident_detail), name="rescue_incident_history"),
    path("teams/<int:pk>/history/", _history(RescueTeam, selectors.team_detail), name="rescue_team_history"),
]

data_endpoint("ui:rescue_incident_list", "rescue.Incident", "list")
data_endpoint("ui:rescue_incident_detail", "rescue.Incident", "detail")
data_endpoint("ui:rescue_team_list", "rescue.RescueTeam", "list")
data_endpoint("ui:rescue_incident_export", "rescue.Incident", "export")
data_endpoint("ui:rescue_team_export", "rescue.RescueTeam", "export")
data_endpoint("ui:rescue_team_detail", "rescue.RescueTeam", "detail")
data_endpoint("ui:rescue_team_edit", "rescue.RescueTeam", "detail")
data_endpoint("ui:rescue_incident_history", "rescue.Incident", "detail")
data_endpoint("ui:rescue_team_history", "rescue.RescueTeam", "detail")
non_data_endpoint("ui:rescue_incident_new", "ui:rescue_incident_act", "ui:rescue_callout_act", "ui:rescue_team_new",
                  "ui:rescue_member_add", "ui:rescue_team_availability")

register(MenuItem("rescue", gettext_noop("抢险救援"), "ui:rescue_incident_list", "rescue.view", order=56))
