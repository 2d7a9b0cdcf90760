"""隐患排查 pages: campaigns (list, open with a checklist per category, progress per street, 回头看 rounds) and
the grid worker's checklists on a phone (mine, fill in: each item 合格/不合格, a failed item opens its hazard
fields, GPS, photos).

Thin: reads start from `Campaign/Inspection.objects.visible_to(user)` (out of scope is 404) and
`services.campaign_progress`; writes are `services.open_campaign`, `open_revisit`, `close_campaign` and
`fill_inspection`, which check scope and capability again. A refusal re-draws the form with the message.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from civicgrid.apps.hazards import services
from civicgrid.apps.hazards.demo_campaigns import CHECKLISTS
from civicgrid.apps.hazards.models import (
    CATEGORIES_BY_KIND,
    CATEGORY_LABELS,
    Campaign,
    FoundBy,
    Grade,
    Inspection,
    InspectionStatus,
    Kind,
)
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.ui.navigation import MenuItem, register

from .cases_shared import error_text
from .common import capability_required, page_view, paginate

LEVEL_CHOICES = [("grid", _("每个网格一张")), ("community", _("每个社区一张")), ("street", _("每个街道一张"))]
HAZARD_INPUTS = ("name", "description", "grade", "owner_unit", "owner_person", "owner_phone", "address",
                 "threatened_people", "threatened_households", "lat", "lng")


def _may_see_campaigns(user) -> bool:
    return has_capability(user, "hazards.inspect") or has_capability(user, "hazards.campaign")


def campaigns_page(view):
    """Signed in and holding hazards.inspect, hazards.campaign or hazards.view (leaders follow progress);
    403 otherwise. What each sees is decided by the scoped reads."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not (_may_see_campaigns(request.user) or has_capability(request.user, "hazards.view")):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _region_options(user) -> list[dict]:
    """The district, streets and communities the user may open campaigns over."""
    scope = scope_for(user, "hazards.campaign")
    if scope.empty:
        return []
    qs = Region.objects.exclude(level=Level.GRID).only("code", "name", "level").order_by("code")
    if not scope.everything:
        q = Q()
        for code in scope.region_codes:
            q |= Q(code__startswith=code)
        qs = qs.filter(q)
    return [{"code": r.code, "name": r.name, "indent": "\u3000" * ((len(r.code) - 6) // 3)} for r in qs[:500]]


# --------------------------------------------------------------------------------------------- campaigns


@campaigns_page
def campaign_list(request):
    """Campaigns in scope with the progress (done/total) of their checklists in the user's view, newest first."""
    if request.method != "GET":
        return HttpResponse(status=405)
    qs = Campaign.objects.visible_to(request.user).select_related("region").order_by("-starts_on", "-id")
    page_obj = paginate(request, qs)
    page_obj.object_list = services.with_inspection_counts(request.user, page_obj.object_list)
    return render(request, "hazards/campaigns.html", {
        "page_obj": page_obj, "can_open": has_capability(request.user, "hazards.campaign"),
        "can_inspect": has_capability(request.user, "hazards.inspect"),
        "pending": (Inspection.objects.visible_to(request.user, "inspect")
                    .filter(status=InspectionStatus.PENDING, campaign__is_open=True).count()
                    if has_capability(request.user, "hazards.inspect") else 0),
    })


def _checklist_from(post, kind: str) -> dict[str, list[str]]:
    checklist = {}
    for category in CATEGORIES_BY_KIND.get(kind, {}) if kind in Kind.values else ():
        if post.get(f"use_{category}") != "1":
            continue
        lines = [line.strip() for line in post.get(f"items_{category}", "").splitlines()]
        checklist[category] = [line for line in lines if line]
    return checklist


def _builder(posted: dict | None) -> list[dict]:
    """The checklist builder: per kind, per category a checkbox and its items (defaults written in)."""
    groups = []
    for kind, label in Kind.choices:
        cats = []
        for category, name in CATEGORIES_BY_KIND[Kind(kind)].items():
            text = "\n".join(CHECKLISTS.get(category, []))
            use = False
            if posted is not None:
                text = posted.get(f"items_{category}", text)
                use = posted.get(f"use_{category}") == "1"
            cats.append({"key": category, "name": name, "text": text, "use": use})
        groups.append({"kind": kind, "label": label, "categories": cats})
    return groups


@capability_required("hazards.campaign")
def campaign_new(request):
    """Open a campaign: name, kind, region, dates, how it inspects, the checklist per category."""
    today = timezone.localdate()
    posted = None
    error, status = "", 200
    if request.method == "POST":
        posted = request.POST.dict()
        kind = posted.get("kind", "")
        try:
            campaign = services.open_campaign(
                actor=request.user, name=posted.get("name", ""), kind=kind, region=posted.get("region", ""),
                starts_on=posted.get("starts_on") or None, deadline=posted.get("deadline") or None,
                checklist=_checklist_from(request.POST, kind), found_by=posted.get("found_by") or FoundBy.SPECIALIST,
                level=posted.get("level") or "grid", description=posted.get("description", ""))
        except CivicgridError as exc:
            error, status = error_text(exc), exc.status
        else:
            messages.success(request, _("排查行动已开始，检查表已下发"))
            return redirect("ui:campaign_detail", campaign.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    return render(request, "hazards/campaign_new.html", {
        "posted": posted or {"kind": Kind.FLOOD, "starts_on": today.isoformat(), "level": "grid",
                             "found_by": FoundBy.SPECIALIST},
        "groups": _builder(posted), "error": error, "kinds": Kind.choices, "levels": LEVEL_CHOICES,
        "found_by_choices": FoundBy.choices, "regions": _region_options(request.user),
    }, status=status)


@capability_required("hazards.campaign")
def revisit_new(request):
    """Open a 回头看 round over the hazard points of a region (closed ones too, unless left out)."""
    posted = {"kind": Kind.FLOOD, "include_closed": "1"}
    error, status = "", 200
    if request.method == "POST":
        posted = request.POST.dict()
        try:
            campaign = services.open_revisit(
                actor=request.user, name=posted.get("name", ""), region=posted.get("region", ""),
                deadline=posted.get("deadline") or None, kind=posted.get("kind", ""),
                include_closed=posted.get("include_closed") == "1")
        except CivicgridError as exc:
            error, status = error_text(exc), exc.status
        else:
            messages.success(request, _("回头看已开始"))
            return redirect("ui:campaign_detail", campaign.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    return render(request, "hazards/revisit_new.html", {
        "posted": posted, "error": error, "kinds": Kind.choices, "regions": _region_options(request.user),
    }, status=status)


def _campaign(request, pk: int) -> Campaign:
    campaign = (Campaign.objects.visible_to(request.user).select_related("region").filter(pk=pk).first()
                if 0 < pk < 2**63 else None)
    if campaign is None:
        raise Http404("未找到该排查行动，或不在您的权限范围内")
    return campaign


@campaigns_page
def campaign_detail(request, pk: int):
    """One campaign: progress per street (checklists done, findings, its hazards by status), its checklist."""
    if request.method != "GET":
        return HttpResponse(status=405)
    campaign = _campaign(request, pk)
    try:
        progress = services.campaign_progress(request.user, campaign)
    except NotFound:
        raise Http404 from None
    items: dict[str, list] = {}
    for item in campaign.items.order_by("category", "order", "id"):
        items.setdefault(CATEGORY_LABELS.get(item.category, item.category), []).append(item.text)
    return render(request, "hazards/campaign_detail.html", {
        "c": campaign, "progress": progress, "items": items.items(),
        "may_close": campaign.is_open and has_capability(request.user, "hazards.campaign")
        and scope_for(request.user, "hazards.campaign").covers_code(campaign.region_code),
    })


@require_POST
@capability_required("hazards.campaign")
def campaign_close(request, pk: int):
    campaign = _campaign(request, pk)
    try:
        services.close_campaign(actor=request.user, campaign=campaign)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("排查行动已结束"))
    return redirect("ui:campaign_detail", campaign.pk)


# ------------------------------------------------------------------------------------------ my checklists


@page_view("hazards.inspect")
def inspections_mine(request):
    """The signed-in worker's checklists to fill in (assigned to them, or to nobody in their area), then the
    latest they filled in."""
    base = (Inspection.objects.visible_to(request.user, "inspect")
            .select_related("campaign", "region", "hazard").order_by("campaign__deadline", "region_code", "id"))
    mine = Q(assignee=request.user) | Q(assignee__isnull=True)
    pending = list(base.filter(mine, status=InspectionStatus.PENDING, campaign__is_open=True)[:200])
    done = list(base.filter(status=InspectionStatus.DONE, submitted_by=request.user)
                .order_by("-submitted_at")[:20])
    return render(request, "hazards/inspections_mine.html", {"pending": pending, "done": done,
                                                            "today": timezone.localdate()})


def _inspection(request, pk: int) -> Inspection:
    found = (Inspection.objects.visible_to(request.user).select_related("campaign", "region", "hazard")
             .filter(pk=pk).first() if 0 < pk < 2**63 else None)
    if found is None:
        raise Http404("未找到该检查表，或不在您的权限范围内")
    return found


def _answers_from(post, files, items) -> tuple[list[dict], dict]:
    answers, photos = [], {}
    for item in items:
        verdict = post.get(f"ok_{item.pk}", "")
        answer = {"item": item.pk, "note": post.get(f"note_{item.pk}", "").strip()[:500]}
        if verdict in ("1", "0"):
            answer["ok"] = verdict == "1"
        if verdict == "0" and post.get(f"register_{item.pk}") == "1":
            hazard = {n: post.get(f"h{item.pk}_{n}", "").strip() for n in HAZARD_INPUTS}
            answer["hazard"] = {k: v for k, v in hazard.items() if v}
            item_photos = files.getlist(f"photos_{item.pk}")
            if item_photos:
                photos[item.pk] = item_photos
        answers.append(answer)
    return answers, photos


@campaigns_page
def inspection_fill(request, pk: int):
    """One checklist: GET shows it (filled answers when done); POST fills it in through `fill_inspection`."""
    inspection = _inspection(request, pk)
    items = services.items_for(inspection)
    error, status = "", 200
    posted = request.POST if request.method == "POST" else {}
    if request.method == "POST":
        answers, photos = _answers_from(request.POST, request.FILES, items)
        try:
            services.fill_inspection(actor=request.user, inspection=inspection, answers=answers, photos=photos,
                                     lat=request.POST.get("lat") or None, lng=request.POST.get("lng") or None,
                                     note=request.POST.get("note", ""))
        except NotFound:
            raise Http404 from None
        except CivicgridError as exc:
            error, status = error_text(exc), exc.status
        else:
            messages.success(request, _("检查表已提交"))
            return redirect("ui:inspection_fill", inspection.pk)
    elif request.method != "GET":
        return HttpResponse(status=405)
    answers = {a.item_id: a for a in inspection.answers.select_related("hazard")} \
        if inspection.status == InspectionStatus.DONE else {}
    rows = []
    for item in items:
        rows.append({"item": item, "category": CATEGORY_LABELS.get(item.category, item.category),
                     "answer": answers.get(item.pk), "verdict": posted.get(f"ok_{item.pk}", ""),
                     "note": posted.get(f"note_{item.pk}", ""),
                     "register": posted.get(f"register_{item.pk}", "1") == "1",
                     "h": {n: posted.get(f"h{item.pk}_{n}", "") for n in HAZARD_INPUTS}})
    may_fill = (inspection.status == InspectionStatus.PENDING and inspection.campaign.is_open
                and Inspection.objects.visible_to(request.user, "inspect").filter(pk=inspection.pk).exists())
    return render(request, "hazards/inspection_fill.html", {
        "i": inspection, "rows": rows, "error": error, "may_fill": may_fill, "grades": Grade.choices,
        "posted": posted,
    }, status=status)


urlpatterns = [
    path("", campaign_list, name="campaign_list"),
    path("new/", campaign_new, name="campaign_new"),
    path("revisit/new/", revisit_new, name="campaign_revisit_new"),
    path("<int:pk>/", campaign_detail, name="campaign_detail"),
    path("<int:pk>/close/", campaign_close, name="campaign_close"),
    path("inspections/mine/", inspections_mine, name="inspections_mine"),
    path("inspections/<int:pk>/", inspection_fill, name="inspection_fill"),
]

data_endpoint("ui:campaign_list", "hazards.Campaign", "list")
data_endpoint("ui:campaign_detail", "hazards.Campaign", "detail")
data_endpoint("ui:inspections_mine", "hazards.Inspection", "list")
data_endpoint("ui:inspection_fill", "hazards.Inspection", "detail")
# Forms and writes: the services check capability and scope (404/403) and every refusal is tested.
non_data_endpoint("ui:campaign_new", "ui:campaign_revisit_new", "ui:campaign_close")

register(MenuItem("campaigns", gettext_noop("隐患排查"), "ui:campaign_list", ("hazards.inspect", "hazards.campaign"),
                  order=41))
