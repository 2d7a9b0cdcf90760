"""防汛 pages: the flood-control overview, reading entry and file upload, response tasks (签收/完成), duty
rosters per street, and the command centre's configuration. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods, require_POST

from civicgrid.apps.flood import rules, selectors, services
from civicgrid.apps.flood.models import (
    LEVEL_NUMERAL,
    SIGNAL_COLOURS,
    FloodResponse,
    FloodSeason,
    Level,
    ResponseRule,
    Signal,
    SignalThreshold,
    Source,
    StationKind,
    StreetSignal,
    TaskTarget,
    TaskTemplate,
    default_season_bounds,
)
from civicgrid.apps.flood.services.common import manages_district
from civicgrid.apps.flood.services.imports import TEMPLATE_HEADERS, WATER_TEMPLATE_HEADERS
from civicgrid.apps.flood.services.response import active_response
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.foundation.regions.models import Region
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, clean_code, page_view

VIEW, REPORT, MANAGE, ROSTER = "flood.view", "flood.report", "flood.manage", "flood.roster"
SIGNAL_LABELS = dict(Signal.choices)


def _render(request, template: str, context: dict, status: int = 200):
    """Render a flood page with the tabs the user may use."""
    context["nav"] = {"report": has_capability(request.user, REPORT), "manage": manages_district(request.user)}
    return render(request, template, context, status=status)


def _signal(value: str) -> dict:
    return {"value": value, "label": SIGNAL_LABELS.get(value, value), "colour": SIGNAL_COLOURS.get(value, "#6b7280")}


def _level(value: str | None) -> dict | None:
    return {"value": value, "numeral": LEVEL_NUMERAL[value]} if value else None


def _streets_for(user, capability: str) -> list[Region]:
    scope = scope_for(user, capability)
    qs = Region.objects.filter(level="street").order_by("code")
    if scope.everything:
        return list(qs)
    return [s for s in qs if scope.covers_code(s.code)]


def _stations_json(user) -> list[dict]:
    latest = {}
    for r in selectors.readings(user).values("station_id", "signal", "rain_mm", "window_hours", "observed_at")[:500]:
        latest.setdefault(r["station_id"], r)
    out = []
    for s in selectors.stations(user)[:500]:
        r = latest.get(s.pk)
        out.append({"code": s.code, "name": s.name, "lat": s.lat, "lng": s.lng, "kind": s.kind,
                    "signal": r["signal"] if r else "none",
                    "colour": SIGNAL_COLOURS.get(r["signal"] if r else "none"),
                    "last": (f"{timezone.localtime(r['observed_at']):%m-%d %H:%M} {r['window_hours']}h "
                             f"{r['rain_mm']}mm") if r else ""})
    return out


def _named(readings: list) -> list:
    """Give each reading its street's name (one query for the names of all streets)."""
    names = dict(Region.objects.filter(level="street").values_list("code", "name"))
    for r in readings:
        r.street_name = names.get(r.street_code, r.street_code)
    return readings


def _season_end(closes) -> str:
    """The season's last moment as people say it: an exclusive 1 October 00:00 is "09-30 24:00"."""
    local = timezone.localtime(closes)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{local - timedelta(days=1):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def _street_rows(user) -> list[dict]:
    """One row per street in scope with a signal or tasks: its signal, open, overdue and all tasks."""
    rows: dict[str, dict] = {}
    for s in (StreetSignal.objects.visible_to(user, "view").filter(is_active=True).select_related("street")
              .order_by("region_code")):
        rows[s.region_code] = {"code": s.region_code, "name": s.street.name, "signal": _signal(s.signal),
                               "open": 0, "overdue": 0, "total": 0}
    for r in selectors.open_tasks_by_street(user):
        row = rows.setdefault(r["region_code"], {"code": r["region_code"], "name": r["name"], "signal": None})
        row.update(open=r["open"], overdue=r["overdue"], total=r["total"])
    return [rows[k] for k in sorted(rows)]


def _street_shapes() -> list[dict]:
    """The streets' outlines (demo or imported boundaries) coloured by their active signal, for the map."""
    active = dict(StreetSignal.objects.filter(is_active=True).values_list("region_code", "signal"))
    return [{"code": code, "name": name, "geometry": geometry,
             "colour": SIGNAL_COLOURS.get(active.get(code, "none"))}
            for code, name, geometry in Region.objects.filter(level="street", geometry__isnull=False)
            .order_by("code").values_list("code", "name", "geometry")]


@page_view(VIEW)
def overview(request):
    """The flood-control overview: season, district signal, response level, open tasks by street, latest
    readings, stations on the map; the command centre's response controls."""
    status = selectors.status(request.user)
    response = active_response()
    now = timezone.now()
    opens, closes, configured = rules.season_bounds(timezone.localtime(now).year)
    last_response = response or FloodResponse.objects.order_by("-started_at", "-id").first()
    context = {
        "status": status,
        "signal": _signal(status["signal"]),
        "level": _level(status["response_level"]),
        "response": response,
        "changes": list(last_response.changes.select_related("actor").order_by("-at", "-id")[:10])
        if last_response else [],
        "season": {"opens": opens, "closes": _season_end(closes), "configured": configured},
        "streets": _street_rows(request.user),
        "readings": _named(list(selectors.readings(request.user)[:15])),
        "stations": {"stations": _stations_json(request.user), "streets": _street_shapes()},
        "can_report": has_capability(request.user, REPORT),
        "can_manage": manages_district(request.user),
        "levels": [(lv.value, LEVEL_NUMERAL[lv.value]) for lv in Level],
        "colours": SIGNAL_COLOURS,
    }
    return _render(request, "flood/overview.html", context)


def _form_error(request, exc: CivicgridError) -> None:
    messages.error(request, exc.message)


@capability_required(REPORT)
@require_http_methods(["GET", "POST"])
def readings(request):
    """Hand entry of a rainfall or water-level reading, and the latest readings in scope."""
    form = {"station": "", "lat": "", "lng": "", "window_hours": "3", "rain_mm": "",
            "observed_at": f"{timezone.localtime():%Y-%m-%dT%H:%M}", "kind": "rain", "level_m": ""}
    status = 200
    if request.method == "POST":
        form.update({k: request.POST.get(k, "").strip() for k in form})
        try:
            if form["kind"] == "water":
                reading, created = services.record_water_level(
                    actor=request.user, station=form["station"], lat=form["lat"], lng=form["lng"],
                    observed_at=form["observed_at"], level_m=form["level_m"], source=Source.MANUAL)
                messages.success(request, _("水位已录入：%(station)s %(level)s 米（%(status)s）") % {
                    "station": reading.station.code, "level": reading.level_m, "status": reading.get_status_display()})
            else:
                reading, created = services.record_rainfall(
                    actor=request.user, station=form["station"], lat=form["lat"], lng=form["lng"],
                    observed_at=form["observed_at"], window_hours=form["window_hours"], rain_mm=form["rain_mm"],
                    source=Source.MANUAL)
                messages.success(request, _("雨量已录入：%(station)s %(window)s 小时 %(mm)s 毫米，%(signal)s") % {
                    "station": reading.station.code, "window": reading.window_hours, "mm": reading.rain_mm,
                    "signal": SIGNAL_LABELS.get(reading.signal, reading.signal)})
            return redirect("ui:flood")
        except CivicgridError as exc:
            _form_error(request, exc)
            status = 422 if exc.status in (400, 422) else exc.status
    context = {"form": form, "readings": _named(list(selectors.readings(request.user)[:50])),
               "water": list(selectors.water_levels(request.user)[:20]),
               "stations": list(selectors.stations(request.user)[:300]), "colours": SIGNAL_COLOURS}
    return _render(request, "flood/readings.html", context, status=status)


@capability_required(REPORT)
@require_http_methods(["GET", "POST"])
def upload(request):
    """A rainfall file (CSV/XLSX): stored all or nothing, with every broken row listed."""
    result = None
    status = 200
    if request.method == "POST":
        upload_file = request.FILES.get("file")
        if upload_file is None:
            messages.error(request, _("请选择文件 / choose a file"))
            status = 422
        else:
            try:
                result = services.import_rainfall(actor=request.user, data=upload_file.read(),
                                                  filename=upload_file.name,
                                                  water=request.POST.get("kind") == "water")
            except CivicgridError as exc:
                _form_error(request, exc)
                status = 422
            else:
                if result.ok:
                    messages.success(request, _("导入 %(rows)s 行：新增 %(created)s 条，重复 %(replayed)s 条") % {
                        "rows": result.rows, "created": result.created, "replayed": result.replayed})
                    return redirect("ui:flood_readings")
                status = 422
    return _render(request, "flood/upload.html", {"result": result, "headers": TEMPLATE_HEADERS,
                                                  "water_headers": WATER_TEMPLATE_HEADERS}, status=status)


@page_view(VIEW)
def tasks(request):
    """Response tasks in scope with 签收/完成 buttons where the user may act; a patrol lists the street's open
    flood hazard points."""
    state = request.GET.get("status", "open")
    if state not in ("open", "issued", "acknowledged", "done", "all"):
        state = "open"
    items = list(selectors.tasks(request.user, status="" if state == "all" else state,
                                 street=clean_code(request.GET.get("street")))[:300])
    selectors.with_actions(items, request.user)
    for task in items:
        task.hazards = selectors.hazards_for(request.user, task) if task.lists_hazards and task.is_open else []
    tabs = [(key, label) for key, label in (("open", _("未完成")), ("issued", _("待签收")),
                                             ("acknowledged", _("已签收")), ("done", _("已完成")), ("all", _("全部")))]
    return _render(request, "flood/tasks.html", {"tasks": items, "state": state, "tabs": tabs,
                                                "now": timezone.now()})


@capability_required(VIEW)
@require_POST
def task_action(request, task_id: int, action: str):
    """签收 or 完成 one task (the same services as the API)."""
    try:
        if action == "ack":
            services.acknowledge(actor=request.user, task_id=task_id)
            messages.success(request, _("已签收"))
        elif action == "done":
            services.complete(actor=request.user, task_id=task_id, note=request.POST.get("note", ""))
            messages.success(request, _("任务已完成"))
        else:
            raise Http404
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        _form_error(request, exc)
    return redirect(reverse("ui:flood_tasks") + f"#task-{task_id}")


@capability_required(VIEW)
@require_http_methods(["GET", "POST"])
def rosters(request):
    """值班表: the coming duty days of the streets in scope (one street at a time when chosen), and a form to add."""
    street = clean_code(request.GET.get("street") or request.POST.get("street"))
    can_add = has_capability(request.user, ROSTER)
    if request.method == "POST":
        if not can_add:
            raise DjangoPermissionDenied
        try:
            services.add_roster(actor=request.user, street_code=street, duty_date=request.POST.get("duty_date"),
                                person=request.POST.get("person"), post=request.POST.get("post", ""),
                                phone=request.POST.get("phone", ""), is_leader=bool(request.POST.get("is_leader")))
            messages.success(request, _("值班安排已添加"))
        except CivicgridError as exc:
            _form_error(request, exc)
        return redirect(reverse("ui:flood_rosters") + (f"?street={street}" if street else ""))
    rows = list(selectors.rosters(request.user, street=street)[:500])
    return _render(request, "flood/rosters.html", {
        "rows": rows, "street": street, "streets": _streets_for(request.user, VIEW),
        "add_streets": _streets_for(request.user, ROSTER) if can_add else [], "can_add": can_add,
        "today": timezone.localdate(),
    })


@capability_required(MANAGE)
@require_http_methods(["GET", "POST"])
def configuration(request):
    """The command centre's configuration: season dates, thresholds, signal → response rules, task templates."""
    if not manages_district(request.user):
        raise DjangoPermissionDenied
    if request.method == "POST":
        what = request.POST.get("what", "")
        p = request.POST
        try:
            if what == "season":
                services.set_season(actor=request.user, year=p.get("year"), opens_at=p.get("opens_at"),
                                    closes_at=p.get("closes_at"), note=p.get("note", ""))
            elif what == "threshold":
                services.save_threshold(actor=request.user, signal=p.get("signal", ""),
                                        window_hours=p.get("window_hours"), rain_mm=p.get("rain_mm"),
                                        is_active=bool(p.get("is_active")), note=p.get("note", ""),
                                        threshold_id=p.get("id") or None)
            elif what == "rule":
                services.save_response_rule(actor=request.user, signal=p.get("signal", ""), level=p.get("level", ""))
            elif what == "template":
                services.save_template(actor=request.user, level=p.get("level", ""), target=p.get("target", ""),
                                       title=p.get("title", ""), description=p.get("description", ""),
                                       ack_minutes=p.get("ack_minutes") or 30, done_hours=p.get("done_hours") or None,
                                       lists_hazards=bool(p.get("lists_hazards")), is_active=bool(p.get("is_active")),
                                       template_id=p.get("id") or None)
            elif what == "station":
                services.save_station(actor=request.user, code=p.get("code", ""), name=p.get("name", ""),
                                      kind=p.get("kind", ""), lat=p.get("lat"), lng=p.get("lng"),
                                      warning_level_m=p.get("warning_level_m") or None,
                                      guaranteed_level_m=p.get("guaranteed_level_m") or None,
                                      feed_username=p.get("feed_username", ""), is_active=bool(p.get("is_active")))
            else:
                raise Http404
            messages.success(request, _("已保存"))
        except CivicgridError as exc:
            _form_error(request, exc)
        return redirect("ui:flood_config")
    year = timezone.localdate().year
    opens, closes = default_season_bounds(year)
    return _render(request, "flood/config.html", {
        "seasons": FloodSeason.objects.order_by("-year"),
        "default_season": {"year": year, "opens": opens, "closes": closes},
        "thresholds": SignalThreshold.objects.order_by("window_hours", "rain_mm"),
        "rules": ResponseRule.objects.all(), "templates": TaskTemplate.objects.order_by("level", "target", "order"),
        "signals": [(s.value, s.label) for s in Signal if s != Signal.NONE],
        "levels": [(lv.value, LEVEL_NUMERAL[lv.value]) for lv in Level],
        "targets": TaskTarget.choices, "colours": SIGNAL_COLOURS,
        "stations": selectors.stations(request.user).select_related("feed_user")[:500],
        "station_kinds": StationKind.choices,
    })


@capability_required(MANAGE)
@require_POST
def response_action(request):
    """Lift the response, or set its level by hand, with a reason (the command centre, leaders)."""
    if not manages_district(request.user):
        raise DjangoPermissionDenied
    try:
        if request.POST.get("action") == "lift":
            services.lift_response(actor=request.user, reason=request.POST.get("reason", ""))
            messages.success(request, _("应急响应已解除"))
        else:
            services.change_level(actor=request.user, level=request.POST.get("level", ""),
                                  reason=request.POST.get("reason", ""))
            messages.success(request, _("应急响应等级已调整"))
    except CivicgridError as exc:
        _form_error(request, exc)
    return redirect("ui:flood")


urlpatterns = [
    path("", overview, name="flood"),
    path("readings/", readings, name="flood_readings"),
    path("readings/upload/", upload, name="flood_upload"),
    path("tasks/", tasks, name="flood_tasks"),
    path("tasks/<int:task_id>/<str:action>/", task_action, name="flood_task_action"),
    path("rosters/", rosters, name="flood_rosters"),
    path("config/", configuration, name="flood_config"),
    path("response/", response_action, name="flood_response"),
]

# The overview shows counts, the district signal and level, and tables of readings (each row checked by model).
data_endpoint("ui:flood", "flood.ResponseTask", "detail")
data_endpoint("ui:flood_readings", "flood.RainfallReading", "list")
data_endpoint("ui:flood_tasks", "flood.ResponseTask", "list")
data_endpoint("ui:flood_rosters", "flood.DutyRoster", "list")
# Forms and actions; the configuration page shows district-wide settings, not business records.
non_data_endpoint("ui:flood_upload", "ui:flood_task_action", "ui:flood_config", "ui:flood_response")

register(MenuItem("flood", gettext_noop("防汛"), "ui:flood", VIEW, order=50))
