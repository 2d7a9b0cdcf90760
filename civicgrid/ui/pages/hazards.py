"""隐患台账 pages: the hazard register (list, map, counts), registering a hazard, one hazard with its three lists'
blocks and the loop's actions, and the three lists (问题清单, 责任清单, 整改台账) with their xlsx exports.

Thin: reads come from `hazards.selectors` (scoped: out of scope is 404), writes from `hazards.services`
(`register_finding`, `act`, `save_plan`, `reveal_owner_phone`); the buttons, the plan forms and the phone's
reveal are `services.offers(hazard, user)`, what those services check (the table, and the reach of the user's
grant). A refusal re-draws the page with the service's message and nothing changed.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from civicgrid.apps.hazards import selectors, services, xlsx
from civicgrid.apps.hazards.models import (
    CATEGORIES_BY_KIND,
    OPEN_STATUSES,
    Campaign,
    FoundBy,
    Grade,
    Hazard,
    HazardPhoto,
    Kind,
    PlanKind,
    Status,
)
from civicgrid.apps.hazards.services.loop import deadline_window
from civicgrid.apps.hazards.workflow import EXTRA_STEP_LABELS, HAZARD_WORKFLOW
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core import photos as photo_files
from civicgrid.foundation.core.downloads import JPEG_TYPE, XLSX_TYPE, file_or_refusal, inline_response
from civicgrid.foundation.core.errors import CivicgridError, NotFound, ValidationFailed
from civicgrid.ui.navigation import MenuItem, register

from .cases_shared import error_text
from .common import capability_required, clean_code, page_view, paginate, region_choices

STATUS_STYLE = {Status.REGISTERED: "st-new", Status.RECTIFYING: "st-work", Status.CHECKING: "st-check",
                Status.PASSED: "st-check", Status.CLOSED: "st-done", Status.VOIDED: "st-off"}
LISTS = xlsx.LISTS  # issues / responsibility / ledger → 问题清单 / 责任清单 / 整改台账
MAP_LIMIT = 2000  # points drawn on the list's map (the filtered set, nearest the top of the list)
FIELD_LABELS = {
    "measures": _("整改措施"), "deadline": _("整改时限"), "budget": _("整改资金（元）"),
    "responsible_unit": _("整改责任单位"), "responsible_person": _("整改责任人"),
    "interim_measures": _("临时管控措施"), "note": _("说明"), "checker": _("验收人"), "checked_on": _("验收日期"),
    "reason": _("理由"), "photos": _("照片"),
}
OPTIONAL = {
    "start": ("budget", "responsible_unit", "responsible_person", "interim_measures", "photos"),
    "report_done": ("photos",),
    "pass_check": ("checked_on", "note", "photos"),
    "fail_check": ("checker", "deadline", "photos"),
    "close_out": ("note",),
    "note": ("photos",),
    "reopen": ("deadline",),
}
REQUIRED_EXTRA = {"reopen": ("deadline",)}
WIDGETS = {"deadline": "date", "checked_on": "date", "budget": "number", "checker": "text",
           "responsible_unit": "text", "responsible_person": "text", "photos": "photos"}
TEXT_INPUTS = ("measures", "deadline", "budget", "responsible_unit", "responsible_person", "interim_measures",
               "note", "checker", "checked_on", "reason")
STEP_LABELS = {**{t.name: t.label for t in HAZARD_WORKFLOW.transitions}, **EXTRA_STEP_LABELS}
# The three lists' titles live in hazards.xlsx (the export's sheet names); marked here for the catalogue, the
# templates translate them with {% translate title %}.
LIST_TITLES = (gettext_noop("问题清单"), gettext_noop("责任清单"), gettext_noop("整改台账"))
PHOTO_STAGES = dict(HazardPhoto.Stage.choices)
PLAN_FIELDS = {
    PlanKind.GOVERNANCE: [("responsibility", _("责任落实（单位/人员）"), "text", True),
                          ("measures", _("措施落实"), "textarea", True),
                          ("funds", _("资金落实（元）"), "number", True),
                          ("deadline", _("时限落实"), "date", True),
                          ("emergency_plan", _("应急预案落实"), "textarea", True),
                          ("goal", _("治理目标"), "text", False),
                          ("materials", _("物资保障"), "text", False),
                          ("safety_measures", _("安全措施"), "textarea", False)],
    PlanKind.EMERGENCY: [("responsible_person", _("应急责任人"), "text", True),
                         ("procedure", _("应急处置程序"), "textarea", True),
                         ("emergency_plan", _("应急预案"), "textarea", True)],
}


# ----------------------------------------------------------------------------------------------- filters


def _flag(value) -> str:
    return value if value in ("1", "0") else ""


def parse_filters(params) -> tuple[dict, dict]:
    """(the selector's keyword filters, the values shown back in the form); unknown values are dropped."""
    kind = params.get("kind", "")
    kind = kind if kind in Kind.values else ""
    status = params.get("status", "")
    status = status if status == "open" or status in Status.values else ""
    grade = params.get("grade", "")
    grade = grade if grade in Grade.values else ""
    category = params.get("category", "")
    allowed = CATEGORIES_BY_KIND[Kind(kind)] if kind else {**CATEGORIES_BY_KIND[Kind.FLOOD],
                                                           **CATEGORIES_BY_KIND[Kind.SAFETY]}
    category = category if category in allowed else ""
    street = clean_code(params.get("street"))
    street = street if len(street) in (6, 9, 12, 15) else ""
    shown = {"kind": kind, "status": status, "grade": grade, "category": category, "street": street,
             "supervised": _flag(params.get("supervised", "")), "overdue": _flag(params.get("overdue", "")),
             "q": (params.get("q") or "").strip()[:40]}
    filters = {k: v for k, v in shown.items() if v}
    return filters, shown


def filter_context(request, shown: dict) -> dict:
    return {
        "f": shown, "kinds": Kind.choices, "statuses": Status.choices, "grades": Grade.choices,
        "categories": [(k, label, kind) for kind, cats in CATEGORIES_BY_KIND.items() for k, label in cats.items()],
        "region_choices": region_choices(request.user, "hazards.view", shown["street"]),
        "query": request.GET.urlencode(),
    }


def _counts(qs) -> dict:
    """The tiles over the whole filtered set: one query."""
    return qs.order_by().aggregate(
        total=Count("id"), open=Count("id", filter=Q(status__in=list(OPEN_STATUSES))),
        major=Count("id", filter=Q(grade=Grade.MAJOR)), supervised=Count("id", filter=Q(is_supervised=True)),
        overdue=Count("id", filter=Q(is_overdue=True)), closed=Count("id", filter=Q(status=Status.CLOSED)))


# ----------------------------------------------------------------------------------------------- register


@page_view("hazards.view")
def hazard_list(request):
    """The register: filters, counts, a map of the filtered points and the list (50 a page)."""
    filters, shown = parse_filters(request.GET)
    qs = selectors.hazard_list(request.user, **filters)
    page_obj = paginate(request, qs)
    # The map holds up to MAP_LIMIT points, the list 50 a page: each point is a named link of its own (the
    # screen reader's and the keyboard's way to it, hazards.js), with its grade and status as the colour says.
    spoken = gettext("{code} {name}（{grade}，{status}）")
    points = [
        {"id": p["pk"], "code": p["code"], "name": p["name"], "lat": p["lat"], "lng": p["lng"],
         "status": p["status"], "grade": p["grade"], "url": reverse("ui:hazard_detail", args=[p["pk"]]),
         "label": spoken.format(code=p["code"], name=p["name"], grade=Grade(p["grade"]).label,
                                status=Status(p["status"]).label)}
        for p in qs.values("pk", "code", "name", "lat", "lng", "status", "grade")[:MAP_LIMIT]
    ]
    rows = [{"h": h, "style": STATUS_STYLE.get(h.status, "")} for h in page_obj.object_list]
    return render(request, "hazards/list.html", {
        **filter_context(request, shown), "page_obj": page_obj, "rows": rows, "counts": _counts(qs),
        "points": points, "lists": LISTS.items(),
        "can_register": has_capability(request.user, "hazards.register"),
    })


def _registration(post) -> dict:
    """The register form's fields as `register_hazard` takes them (empty ones left to its defaults)."""
    names = ("kind", "category", "grade", "name", "description", "address", "lat", "lng", "owner_unit",
             "owner_person", "owner_phone", "threatened_people", "threatened_households", "found_by", "found_on",
             "sub_grade", "inspector")
    fields = {n: post.get(n, "").strip() for n in names if post.get(n, "").strip()}
    fields["short_term_fixable"] = post.get("short_term_fixable", "1") == "1"  # the box posts "0" when ticked
    return fields


@capability_required("hazards.register")
def hazard_new(request):
    """Register a hazard (登记): a point from a map click or the phone's GPS, kind → category, grade, owner,
    people threatened, short-term fixable, photos."""
    error = ""
    posted = {"kind": request.GET.get("kind", Kind.FLOOD), "grade": Grade.GENERAL, "short_term_fixable": "1",
              "found_by": FoundBy.ROUTINE}
    status = 200
    if request.method == "POST":
        posted = request.POST.dict()
        try:
            fields = _registration(request.POST)
            if not fields.get("inspector"):
                fields["inspector"] = (getattr(request.user, "display_name", "") or request.user.get_username())[:64]
            hazard = services.register_finding(actor=request.user, photos=request.FILES.getlist("photos"), **fields)
        except CivicgridError as exc:
            error, status = error_text(exc), exc.status
        else:
            messages.success(request, _("已登记隐患 %(code)s") % {"code": hazard.code})
            return redirect("ui:hazard_detail", hazard.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    return render(request, "hazards/new.html", {
        "posted": posted, "error": error, "kinds": Kind.choices, "grades": Grade.choices,
        "found_by_choices": FoundBy.choices,
        "categories": [(k, label, kind) for kind, cats in CATEGORIES_BY_KIND.items() for k, label in cats.items()],
    }, status=status)


# ------------------------------------------------------------------------------------------------- detail


def _fields(t) -> list[dict]:
    names = [*t.requires, *REQUIRED_EXTRA.get(t.name, ()),
             *(n for n in OPTIONAL.get(t.name, ()) if n not in t.requires and n not in REQUIRED_EXTRA.get(t.name, ()))]
    required = set(t.requires) | set(REQUIRED_EXTRA.get(t.name, ()))
    return [{"name": n, "label": FIELD_LABELS.get(n, n), "required": n in required,
             "widget": WIDGETS.get(n, "textarea")} for n in names]


def action_forms(hazard: Hazard, transitions) -> list[dict]:
    """One entry per action this user may take now (`transitions`: `services.offers(hazard, user).actions`)."""
    result = []
    for t in transitions:
        fields = _fields(t)
        if t.name == "close_out":
            fields = []  # one press: the check already passed
        result.append({"name": t.name, "label": t.label, "style": t.style, "fields": fields,
                       "photos": any(f["widget"] == "photos" for f in fields),
                       "url": reverse("ui:hazard_act", args=[hazard.pk, t.name])})
    return result


def _photo(hazard: Hazard, p: HazardPhoto) -> dict:
    return {"url": reverse("ui:hazard_photo", args=[hazard.pk, p.pk]), "pk": p.pk,
            "stage": PHOTO_STAGES.get(p.stage, p.stage)}


def _timeline(hazard: Hazard) -> list[dict]:
    labels = dict(Status.choices)
    return [{"step": s, "label": STEP_LABELS.get(s.action, s.action),
             "from_label": labels.get(s.from_status, ""), "to_label": labels.get(s.to_status, ""),
             "photos": [_photo(hazard, p) for p in s.photos.all()]} for s in hazard.steps.all()]


def _plans(hazard: Hazard) -> dict:
    newest = {}
    for plan in hazard.plans.all():  # prefetched newest first per kind
        newest.setdefault(plan.kind, plan)
    return newest


def detail_context(request, hazard: Hazard, *, error: str = "", failed: str = "", posted: dict | None = None) -> dict:
    user = request.user
    offers = services.offers(hazard, user)  # what the services would accept, the grants' reach in one query
    forms = action_forms(hazard, offers.actions)
    for form in forms:
        if form["name"] == failed:
            form["open"] = True
            for field in form["fields"]:
                field["value"] = (posted or {}).get(field["name"], "")
    plans = _plans(hazard)
    governance = plans.get(PlanKind.GOVERNANCE)
    plan_forms = []
    for kind, label in PlanKind.choices:
        current = plans.get(kind)
        fields = [{"name": n, "label": lab, "widget": w, "required": req,
                   "value": (posted or {}).get(n, "") if failed == f"plan_{kind}" else
                   (getattr(current, n, "") if current is not None else "")}
                  for n, lab, w, req in PLAN_FIELDS[kind]]
        plan_forms.append({"kind": kind, "label": label, "plan": current, "fields": fields,
                           "open": failed == f"plan_{kind}",
                           "url": reverse("ui:hazard_plan", args=[hazard.pk, kind])})
    photos_by_stage: dict[str, list] = {}
    for p in hazard.photos.all():
        photos_by_stage.setdefault(PHOTO_STAGES.get(p.stage, p.stage), []).append(_photo(hazard, p))
    rect = getattr(hazard, "rectification", None)
    return {
        "h": hazard, "style": STATUS_STYLE.get(hazard.status, ""), "actions": forms, "error": error,
        "rect": rect, "plan_forms": plan_forms, "may_plan": offers.may_plan,
        "missing": ([gettext(m) for m in services.missing_assurances(governance)]
                    if hazard.grade == Grade.MAJOR else []),
        "needs_emergency": not hazard.short_term_fixable and PlanKind.EMERGENCY not in plans,
        "timeline": _timeline(hazard), "photos_by_stage": photos_by_stage,
        "may_reveal": offers.may_reveal,
        # Links to other apps only for those who may open them (each is checked again where it leads).
        "rescue_url": (f"{reverse('ui:rescue_incident_new')}?hazard={hazard.pk}"
                       if has_capability(user, "rescue.command") else ""),
        "materials_url": (f"{reverse('ui:materials_nearest')}?hazard={hazard.pk}"
                          if has_capability(user, "materials.view") else ""),
        "campaign": (Campaign.objects.visible_to(user).filter(pk=hazard.campaign_id).only("pk", "name").first()
                     if hazard.campaign_id else None),
        "today": timezone.localdate().isoformat(),
        "deadline_max": deadline_window()[1].isoformat(),
    }


@page_view("hazards.view")
def hazard_detail(request, pk: int):
    """One hazard in scope (404 outside): facts, 责任清单, plans, 整改台账, photos, timeline, actions."""
    try:
        hazard = selectors.hazard_detail(request.user, pk)
    except NotFound:
        raise Http404 from None
    return render(request, "hazards/detail.html", detail_context(request, hazard))


def _visible(request, pk) -> Hazard:
    hazard = Hazard.objects.visible_to(request.user).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if hazard is None:
        raise Http404("未找到该隐患，或不在您的权限范围内")
    return hazard


def _refused(request, hazard: Hazard, exc: CivicgridError, failed: str):
    try:
        fresh = selectors.hazard_detail(request.user, hazard.pk)
    except NotFound:
        raise Http404 from None
    context = detail_context(request, fresh, error=error_text(exc), failed=failed,
                             posted={k: request.POST.get(k, "") for k in request.POST})
    return render(request, "hazards/detail.html", context, status=exc.status)


def _back(request, hazard: Hazard):
    if Hazard.objects.visible_to(request.user).filter(pk=hazard.pk).exists():
        return redirect("ui:hazard_detail", hazard.pk)
    return redirect("ui:hazard_list")


@require_POST
@capability_required("hazards.view")
def hazard_act(request, pk: int, action: str):
    """One action of the loop through `services.act`; on refusal the page says why, nothing changed."""
    hazard = _visible(request, pk)
    if action not in {t.name for t in HAZARD_WORKFLOW.transitions}:
        raise Http404("未知操作")
    t = HAZARD_WORKFLOW.transition(action)
    wanted = set(t.requires) | set(OPTIONAL.get(action, ())) | set(REQUIRED_EXTRA.get(action, ()))
    inputs = {n: request.POST.get(n, "").strip()[:4000] for n in wanted & set(TEXT_INPUTS)
              if request.POST.get(n, "").strip()}
    try:
        missing = [n for n in REQUIRED_EXTRA.get(action, ()) if n not in inputs]
        if missing:
            raise ValidationFailed(f"请填写「{FIELD_LABELS[missing[0]]}」 / {missing[0]} is required", field=missing[0])
        services.act(actor=request.user, hazard=hazard, action=action, photos=request.FILES.getlist("photos"),
                     **inputs)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        return _refused(request, hazard, exc, action)
    messages.success(request, _("已完成：%(label)s") % {"label": gettext(t.label)})
    return _back(request, hazard)


@require_POST
@capability_required("hazards.view")
def hazard_plan(request, pk: int, kind: str):
    """Save a governance plan (五落实) or an emergency plan through `services.save_plan`."""
    hazard = _visible(request, pk)
    if kind not in PlanKind.values:
        raise Http404("未知方案类型")
    fields = {n: request.POST.get(n, "").strip()[:4000] for n, *_ in PLAN_FIELDS[kind]}
    try:
        services.save_plan(actor=request.user, hazard=hazard, kind=kind, **fields)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        return _refused(request, hazard, exc, f"plan_{kind}")
    messages.success(request, _("方案已保存"))
    return _back(request, hazard)


@require_POST
@capability_required("hazards.view")
def hazard_reveal(request, pk: int):
    """The owner's phone in clear (htmx fragment), for those who may act on the hazard; audited."""
    hazard = _visible(request, pk)
    try:
        phone = services.reveal_owner_phone(actor=request.user, hazard=hazard)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        return HttpResponse(error_text(exc), status=exc.status, content_type="text/plain; charset=utf-8")
    response = render(request, "hazards/partials/revealed.html", {"phone": phone})
    response["Cache-Control"] = "no-store"
    return response


@require_safe
@capability_required("hazards.view")
def hazard_photo(request, pk: int, photo_id: int):
    """A hazard's photo in scope, served with safe headers (never from the web root)."""
    hazard = _visible(request, pk)
    photo = HazardPhoto.objects.filter(hazard=hazard, pk=photo_id).first() if 0 < photo_id < 2**63 else None
    if photo is None:
        raise Http404("未找到该照片")
    try:
        handle = photo_files.open_stored(photo.path)
    except FileNotFoundError:
        raise Http404("照片文件缺失") from None
    return inline_response(handle, f"{hazard.code}-{photo.pk}.jpg", JPEG_TYPE)


# ----------------------------------------------------------------------------------------------- the lists


def _list_view(which: str):
    @page_view("hazards.view")
    def view(request):
        filters, shown = parse_filters(request.GET)
        qs = selectors.hazard_list(request.user, **filters)
        page_obj = paginate(request, qs)
        return render(request, "hazards/table.html", {
            **filter_context(request, shown), "which": which, "title": LISTS[which], "page_obj": page_obj,
            "lists": LISTS.items(), "start": page_obj.start_index(),
            "export_url": reverse(f"ui:hazard_export_{which}"),
            "can_export": has_capability(request.user, "hazards.export"),
        })

    view.__name__ = f"hazard_{which}_list"
    view.__doc__ = f"The {which} list ({LISTS[which]}) of the hazards in scope, with the register's filters."
    return view


def _export_view(which: str):
    @page_view("hazards.export")
    def view(request):
        filters, shown = parse_filters(request.GET)
        kind = filters.pop("kind", None)
        return file_or_refusal(
            lambda: xlsx.export_for(actor=request.user, which=which, kind=kind, **filters), XLSX_TYPE, error_text
        )

    view.__name__ = f"hazard_{which}_export"
    view.__doc__ = f"The {which} list ({LISTS[which]}) as xlsx in the office layout; audited as an export."
    return view


urlpatterns = [
    path("", hazard_list, name="hazard_list"),
    path("new/", hazard_new, name="hazard_new"),
    path("<int:pk>/", hazard_detail, name="hazard_detail"),
    path("<int:pk>/act/<str:action>/", hazard_act, name="hazard_act"),
    path("<int:pk>/plan/<str:kind>/", hazard_plan, name="hazard_plan"),
    path("<int:pk>/reveal/", hazard_reveal, name="hazard_reveal"),
    path("<int:pk>/photos/<int:photo_id>/", hazard_photo, name="hazard_photo"),
]
for _which in LISTS:
    urlpatterns += [
        path(f"lists/{_which}/", _list_view(_which), name=f"hazard_{_which}"),
        path(f"lists/{_which}/export.xlsx", _export_view(_which), name=f"hazard_export_{_which}"),
    ]
    data_endpoint(f"ui:hazard_{_which}", "hazards.Hazard", "list")
    data_endpoint(f"ui:hazard_export_{_which}", "hazards.Hazard", "export")

data_endpoint("ui:hazard_list", "hazards.Hazard", "list")
data_endpoint("ui:hazard_detail", "hazards.Hazard", "detail")
data_endpoint("ui:hazard_reveal", "hazards.Hazard", "reveal")
# Forms and writes: the services check scope (404 outside) and every refusal is tested in the hazards' tests.
non_data_endpoint("ui:hazard_new", "ui:hazard_act", "ui:hazard_plan")
# Two URL kwargs (hazard and photo): its scope (404 outside) is tested in civicgrid/apps/hazards/tests/test_pages.py.
non_data_endpoint("ui:hazard_photo")

register(MenuItem("hazards", gettext_noop("隐患台账"), "ui:hazard_list", "hazards.view", order=40))
