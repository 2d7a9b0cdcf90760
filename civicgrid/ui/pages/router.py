"""智能分拨 pages: the router's model versions (metrics, retrain, activate/roll back), the triage queue, and the
live suggestion the intake forms ask for as the operator types.

* `router/` (`router.manage`): versions with macro-F1, per-class F1, training size, when and by whom; the
  auto-dispatch threshold; dispatchers' corrections since the live model was trained; 重新训练 (a background
  task whose state the page polls) and 启用/回滚 buttons (audited by `versions.activate_version`).
* `router/triage/` (`cases.intake`): reports awaiting intake or dispatch in the user's intake scope, with the
  router's suggestion; those below the threshold (or without one) first.
* `router/suggest/` (`cases.report`): an HTML fragment for htmx: the places the text names (for the map) and,
  for those who dispatch (`cases.intake`), the suggested category and department with confidence, the top
  three and the auto-dispatch threshold; other reporters see only a suggested category they may report under.
  With the form's category and point, it also lists the possible duplicates near the point that the user may
  see (`duplicates.candidates` on `Case.objects.visible_to`), so a second report of one problem is caught
  before it is sent.

Also :func:`suggestion_panel`, which the case detail page uses (its dispatch form starts from
`categories.dispatch_target`, where the router's department comes after the rules).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import get_language, gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from civicgrid.apps.cases.models import FINAL_STATUSES, Case
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core.errors import CivicgridError, NotFound
from civicgrid.integrations.router import corrections, handlers, versions
from civicgrid.integrations.router.models import RetrainRun, RouterCorrection, RouterModelVersion
from civicgrid.integrations.router.permissions import MANAGE
from civicgrid.integrations.router.selectors import triage_queue
from civicgrid.integrations.router.service import case_text, with_categories
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .cases_shared import error_text
from .common import capability_required, page_view

MAX_SUGGEST_TEXT = 4000
NEARBY_SHOWN = 3  # possible duplicates the live panel lists: the case page lists them all at intake
TRIAGE_PAGE = 50


# ------------------------------------------------------------------------------------------- shared helpers
def percent(value) -> str:
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return "—"


def match_words(score) -> str:
    """How a suggested category's text match reads to a dispatcher. The score is the share of a name's or a
    keyword's words found in the text (`categories.matching`), not a probability: shown as "100%", one shared
    keyword (困难 of 社会救助) read as certainty. Words say what was found instead."""
    from civicgrid.apps.categories import matching

    try:
        value = float(score)
    except (TypeError, ValueError):
        return ""
    if value >= 0.999:
        return gettext("含该类名称或关键词")
    return gettext("部分字词相同") if value < matching.CLEAR_SCORE else gettext("大部分字词相同")


def describe(suggestion: dict | None) -> dict | None:
    """A stored or live suggestion as the templates draw it (confidence as a percentage, level, top three)."""
    if not suggestion:
        return None
    conf = suggestion.get("confidence")
    limit = handlers.threshold()
    from civicgrid.apps.categories import matching

    top3 = [{**t, "percent": percent(t.get("confidence"))} for t in (suggestion.get("top3") or [])[:3]]
    categories = [{**c, "match": match_words(c.get("score"))} for c in (suggestion.get("categories") or [])[:3]]
    return {
        **suggestion,
        "percent": percent(conf),
        "confident": conf is not None and float(conf) >= limit,
        "auto_off": limit > 1.0,
        "threshold": percent(limit) if limit <= 1.0 else _("已关闭"),
        "top3": top3,
        "target": suggestion.get("department") or suggestion.get("category") or suggestion.get("label"),
        "categories": categories,
        # the category the 立案 form starts from: the model's own, else a clear text match
        "category_pick": suggestion.get("category_id") or (categories[0]["id"] if matching.clear(categories)
                                                           else None),
    }


def _category_id(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def in_reader_language(suggestions: list[dict | None]) -> list[dict | None]:
    """Described suggestions (`describe`) with the categories they name (the text matches and the model's own)
    in the reader's language (`Category.display_name`): in the English interface, their English names where
    they have one, one query for the lot; unchanged in Chinese, where the stored names are the ones shown. After
    `describe`, whose pick compares the Chinese names (`matching.clear`)."""
    from civicgrid.apps.categories.models import Category, display_name

    if not (get_language() or "").startswith("en"):
        return suggestions
    ids = {_category_id(c.get("id")) for s in suggestions if s for c in s.get("categories") or []}
    ids |= {_category_id(s.get("category_id")) for s in suggestions if s}
    ids.discard(None)
    if not ids:
        return suggestions
    names = {pk: (display_name(name, name_en), display_name(parent, parent_en) if parent else "")
             for pk, name, name_en, parent, parent_en in Category.objects.filter(pk__in=ids).values_list(
                 "pk", "name", "name_en", "parent__name", "parent__name_en")}

    def shown(c: dict) -> dict:
        found = names.get(_category_id(c.get("id")))
        if found is None:
            return c
        name, parent = found
        return {**c, "name": name, "path": f"{parent} › {name}" if parent else name}

    result: list[dict | None] = []
    for s in suggestions:
        if s:
            s = {**s}
            if s.get("categories"):
                s["categories"] = [shown(c) for c in s["categories"]]
            own = names.get(_category_id(s.get("category_id")))
            if own is not None and s.get("category"):
                if s.get("target") == s["category"]:
                    s["target"] = own[0]
                s["category"] = own[0]
        result.append(s)
    return result


def suggested_category(suggestion: dict | None) -> int | None:
    """The category the 立案 form starts from: the model's own (a model trained on categories), else the top
    text match when it is clear (`categories.matching.clear`); the dispatcher still chooses."""
    s = describe(suggestion)
    return s["category_pick"] if s else None


def local_reason(suggestion: dict | None, target) -> str:
    """Why the dispatch form starts from a street office (`handlers.local_reason`), in the reader's language."""
    why = handlers.local_reason(suggestion, target)
    return one_language(why) if why else ""


def suggestion_panel(case: Case, user=None) -> dict | None:
    """The router's part of the case page, for those who take reports in (`cases.intake`): its suggestion,
    whether it was auto-dispatched, whether the dispatcher's choice differed (once dispatched). None once the
    case has ended (结案, 不予受理, 作废, 合并): there is nothing left to route (a reopened case has it again)."""
    if case.status in FINAL_STATUSES:
        return None
    if user is not None and not has_capability(user, "cases.intake"):
        return None
    s = in_reader_language([describe(with_categories([(case.suggestion, case_text(case))])[0])])[0]
    if s is None and not case.auto_dispatched:
        return None
    corrected = None
    if s and case.department_id and s.get("department_id"):
        corrected = s["department_id"] != case.department_id
    return {"s": s, "auto": case.auto_dispatched, "corrected": corrected, "dispatched": bool(case.department_id),
            "withdrawn": _withdrawn_corrections(case, user), "street_office": _street_office(case, s)}


def _street_office(case: Case, s: dict | None) -> str:
    """For a case not yet dispatched whose router label names a community matter: the street office the dispatch
    form starts from (`categories.dispatch_target`), when no rule or default decides; else ""."""
    if not s or not s.get("local") or s.get("department_id") or case.department_id:
        return ""
    goal = handlers.target(case)
    return goal.office.name if goal.source == "street_office" and goal.office is not None else ""


def _withdrawn_corrections(case: Case, user) -> dict | None:
    """A dispatcher's correction of the router on this case that the case itself withdrew (it came back to the
    department the router suggested, `corrections.withdraw_returned`), and the rules a 同时更正分拨规则 changed
    with that dispatch, which nothing changed back: named for review (linked for those who manage rules)."""
    from civicgrid.apps.cases.models import CaseStep

    steps = list(RouterCorrection.objects.filter(case=case, withdrawn_at__isnull=False).values_list("step_id",
                                                                                                    flat=True))
    if not steps:
        return None
    rules = []
    for data in CaseStep.objects.filter(case=case, pk__in=steps).values_list("data", flat=True):
        corrected = (data or {}).get("rule_corrected") if isinstance(data, dict) else None
        if isinstance(corrected, dict) and corrected.get("rule"):
            rules.append(corrected["rule"])
    may_edit = user is not None and has_capability(user, "categories.manage")
    return {"count": len(steps), "rules": [{"id": pk, "url": reverse("ui:routing_rule_detail", args=[pk])
                                            if may_edit else ""} for pk in sorted(set(rules))]}


# ------------------------------------------------------------------------------------ live suggestion (htmx)
def _reportable(user, suggestion: dict | None) -> list[dict]:
    """The suggested categories (the model's, then the text matches) the user's form offers (a resident's list
    leaves out the staff-only ones): only those are shown to a reporter who does not dispatch. One query."""
    from civicgrid.apps.categories.models import in_use_q
    from civicgrid.apps.categories.selectors import visible_categories

    s = suggestion or {}
    offered = [{"id": s["category_id"], "name": s.get("category"), "path": s.get("category")}] \
        if isinstance(s.get("category_id"), int) and not isinstance(s.get("category_id"), bool) else []
    offered += [c for c in s.get("categories") or [] if c["id"] not in {o["id"] for o in offered}]
    if not offered:
        return []
    ids = set(visible_categories(user).filter(in_use_q(), pk__in=[o["id"] for o in offered], parent__isnull=False)
              .values_list("pk", flat=True))
    return [o for o in offered if o["id"] in ids][:3]


@require_safe
@capability_required("cases.report")
def suggest_fragment(request):
    """What the router and the gazetteer make of the text typed so far (title, description, address), and the
    open or lately closed cases near the chosen point that the report may duplicate (category and point from the
    form), so the reporter sees them before sending a second report of one problem."""
    from civicgrid.integrations.router import suggest
    from civicgrid.integrations.router.gazetteer import find_place

    title = request.GET.get("title", "")[:200]
    description = request.GET.get("description", "")[:MAX_SUGGEST_TEXT]
    address = request.GET.get("address", "")[:200]
    text = f"{title} {description}".replace("\x00", "").strip()
    live = in_reader_language([describe(suggest(text))])[0] if text else None
    where = f"{address} {text}".replace("\x00", "").strip()
    places = find_place(where, limit=3) if where else []
    may_dispatch = has_capability(request.user, "cases.intake")
    category, region_code, point = _form_place(request)
    expected = _outlook(request, live, text, category, region_code, point) if live and may_dispatch else None
    response = render(request, "cases/_suggestion_live.html",
                      {"s": live, "places": places, "asked": bool(text or where), "may_dispatch": may_dispatch,
                       "outlook": expected, "nearby": _nearby(request.user, category, point, text),
                       "offered": [] if may_dispatch else _reportable(request.user, live)})
    response["Cache-Control"] = "no-store"
    return response


def _form_place(request) -> tuple:
    """The report form's category (None when not chosen or not one a case may take) and its point, located:
    `(category, region_code, (lng, lat) in WGS-84)`, with "" and None while the form has no point in the district."""
    from civicgrid.apps.cases.services.intake import resolve_category
    from civicgrid.foundation.regions.selectors import locate

    try:
        category = resolve_category(request.GET.get("category") or None, subclass=False)
    except CivicgridError:
        category = None
    try:
        lng, lat = float(request.GET.get("lng", "")), float(request.GET.get("lat", ""))
        found = locate(lng, lat, (request.GET.get("crs") or "wgs84")[:8])
    except (TypeError, ValueError, CivicgridError):
        return category, "", None
    ref = found.grid or found.community
    return category, (ref.code if ref else ""), (found.lng, found.lat)


def _nearby(user, category, point, text: str) -> list:
    """The possible duplicates of the report being written (`duplicates.candidates`, as the case page offers them
    at intake), among the cases the user may see: none before the form has a point."""
    from civicgrid.apps.cases import duplicates

    if point is None or not has_capability(user, "cases.view"):
        return []
    found = duplicates.candidates(lng=point[0], lat=point[1], category=category, text=text, limit=NEARBY_SHOWN,
                                  queryset=Case.objects.visible_to(user))
    return [c for c in found if c.case.parent_id is None]


def _outlook(request, suggestion: dict, text: str, category, region_code: str, point) -> dict:
    """What auto-dispatch will do with the report being typed (`handlers.outlook`, the check it makes on the new
    case) when the model is confident, and the department the routing would choose (`handlers.routing`), from
    the form's category (else the model's) and point, when given. A likely duplicate is named when the user may
    see it."""
    from civicgrid.apps.cases import duplicates

    def alike():
        near = duplicates.candidates(lng=point[0], lat=point[1], category=category, text=text, limit=1)
        if not near:
            return None
        other = near[0].case
        visible = Case.objects.visible_to(request.user).filter(pk=other.pk).exists()
        return (other.number if visible else str(_("附近的其他案卷"))), near[0].joinable

    route = handlers.routing(suggestion, category=category, region_code=region_code)
    if route and route["source"]:
        route["source"] = one_language(" / ".join(route["source"]))
    if not suggestion["confident"] or suggestion["auto_off"]:
        return {"ok": False, "why": "", "route": route}
    ok, why = handlers.outlook(suggestion, category=category, region_code=region_code, alike=alike)
    return {"ok": ok, "why": one_language(why), "route": route}


# --------------------------------------------------------------------------------------------- triage queue
@page_view("cases.intake")
def triage(request):
    """待分拨: reports awaiting intake or dispatch in the user's intake scope, with the router's suggestion;
    by default the ones auto-dispatch left (below the threshold or without a suggestion)."""
    limit = handlers.threshold()
    show_all = request.GET.get("all") == "1"
    qs = triage_queue(request.user, below=None if show_all else limit, top_level_only=True)
    page = Paginator(qs.select_related("category", "grid"), TRIAGE_PAGE).get_page(request.GET.get("page"))
    orgs = _case_handlers()
    routed = _routed_departments(page.object_list, orgs)
    shown = in_reader_language([describe(s) for s in with_categories([(c.suggestion, case_text(c))
                                                                        for c in page.object_list])])
    rows = [{"case": c, "s": _with_orgs(s, orgs), "routed": routed.get(c.pk)}
            for c, s in zip(page.object_list, shown, strict=True)]
    return render(request, "router/triage.html", {
        "rows": rows, "page": page, "show_all": show_all, "threshold": percent(limit),
        "auto_enabled": handlers.enabled(),
    })


def _case_handlers() -> dict:
    """The organisations a case may be sent to, by id (one query for the page, whatever its rows): the triage
    table names them as dense tables do (`org_cell`: the short name, the full one on hover)."""
    from civicgrid.foundation.orgs.models import Organisation

    return {o.pk: o for o in Organisation.case_handlers().only("pk", "name", "short_name", "kind", "code",
                                                                "region_code")}


def _with_orgs(s: dict | None, orgs: dict) -> dict | None:
    """A described suggestion with the organisations its department and its top three name (`org`, None for one
    no longer among the case handlers: the table then shows the name the suggestion stored)."""
    if not s:
        return s
    return {**s, "org": orgs.get(s.get("department_id")) if s.get("department") else None,
            "top3": [{**t, "org": orgs.get(t.get("department_id")) if t.get("department") else None}
                     for t in s.get("top3") or []]}


def _routed_departments(cases, orgs: dict) -> dict[int, dict]:
    """For each case, the department the routing rules (or the category's default) would choose for its category
    (else the one its suggestion names) in its region (`org`), and whether the model's department is that one:
    what the triage list shows beside the model's guess. The rules are read once (`RoutingTable`), whatever the
    number of rows; `orgs` are the case handlers by id (`_case_handlers`)."""
    from civicgrid.apps.categories.routing import RoutingTable
    from civicgrid.foundation.orgs.models import OrgKind

    table = RoutingTable()
    # a community matter goes to the street office of the case's street (`categories.dispatch_target`)
    offices = {o.region_code: o for o in sorted(orgs.values(), key=lambda o: -o.pk) if o.kind == OrgKind.STREET_OFFICE}
    out = {}
    for c in cases:
        s = c.suggestion or {}
        category_id = c.category_id or (s.get("category_id") if isinstance(s.get("category_id"), int) else None)
        department_id = table.department_id(category_id, c.region_code or "")
        if department_id is None:
            office = offices.get((c.region_code or "")[:9]) if s.get("local") and not s.get("department_id") else None
            if office is not None:
                out[c.pk] = {"org": office, "agrees": False, "local": True}
            continue
        out[c.pk] = {"org": orgs.get(department_id), "agrees": department_id == s.get("department_id")}
    return out


# ---------------------------------------------------------------------------------------- model management
def _require_manage(user) -> None:
    if not has_capability(user, MANAGE):
        raise DjangoPermissionDenied


def _version_rows(items: list[RouterModelVersion]) -> list[dict]:
    rows = []
    for v in items:
        cv = (v.metrics or {}).get("cv") or {}
        per_class = cv.get("per_class_f1") or {}
        rows.append({"v": v, "macro_f1": cv.get("macro_f1"), "accuracy": cv.get("accuracy"),
                     "per_class": sorted(per_class.items(), key=lambda kv: kv[0]),
                     "counts": (v.metrics or {}).get("label_counts") or {}})
    return rows


def _home_context(request, **extra) -> dict:
    items = list(RouterModelVersion.objects.select_related("created_by").order_by("-created_at", "-id")[:50])
    active = next((v for v in items if v.is_active), None) or versions.active()
    runs = list(RetrainRun.objects.select_related("requested_by", "version").order_by("-requested_at", "-id")[:5])
    return {
        "rows": _version_rows(items),
        "active": active,
        "threshold": handlers.threshold(),
        "threshold_percent": percent(handlers.threshold()),
        "auto_enabled": handlers.enabled(),
        "corrections": corrections.since_active(),
        "corrections_total": RouterCorrection.objects.filter(withdrawn_at__isnull=True).count(),
        # corrections the case proved wrong: it came back to the department the router had suggested
        "corrections_withdrawn": RouterCorrection.objects.filter(withdrawn_at__isnull=False).count(),
        "runs": runs,
        "running": next((r for r in runs if not r.finished), None),
        "system_username": handlers.SYSTEM_USERNAME,
        "may_triage": has_capability(request.user, "cases.intake"),  # the queue is the dispatchers' page
        **extra,
    }


@page_view(MANAGE)
def home(request):
    """Model versions, the threshold, corrections, retraining."""
    return render(request, "router/home.html", _home_context(request))


@require_POST
@capability_required(MANAGE)
def retrain(request):
    """重新训练 from closed cases, in the background; the page then polls the run."""
    try:
        run = versions.request_retrain(actor=request.user, activate=request.POST.get("activate", "1") == "1")
    except CivicgridError as exc:
        return render(request, "router/home.html", _home_context(request, error=error_text(exc)),
                      status=exc.status)
    messages.info(request, _("已提交重新训练（第 %(id)s 次）") % {"id": run.pk})
    return redirect("ui:router_home")


@require_safe
@capability_required(MANAGE)
def run_status(request, run_id: int):
    """The state of one retraining (an htmx fragment that polls itself until the run has finished)."""
    run = RetrainRun.objects.select_related("version", "requested_by").filter(pk=run_id).first() \
        if 0 < run_id < 2**63 else None
    if run is None:
        raise Http404
    response = render(request, "router/_run.html", {"run": run})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@capability_required(MANAGE)
def activate(request, version_id: int):
    """启用 a version; an older one is the rollback (audited)."""
    if not 0 < version_id < 2**63:
        raise Http404
    try:
        v = versions.activate_version(version_id, actor=request.user)
    except NotFound:
        raise Http404 from None
    except CivicgridError as exc:
        return render(request, "router/home.html", _home_context(request, error=error_text(exc)),
                      status=exc.status)
    messages.success(request, _("已启用模型版本 %(v)s") % {"v": v.version})
    return redirect("ui:router_home")


urlpatterns = [
    path("", home, name="router_home"),
    path("retrain/", retrain, name="router_retrain_page"),
    path("runs/<int:run_id>/", run_status, name="router_run"),
    path("versions/<int:version_id>/activate/", activate, name="router_activate"),
    path("triage/", triage, name="router_triage"),
    path("suggest/", suggest_fragment, name="router_suggest"),
]

data_endpoint("ui:router_triage", "router.TriageCase", "list")
# Model metadata, a retraining's state, the model's answer for text the user typed, and buttons: no
# region-scoped business rows (the live panel's nearby cases are read through `visible_to`, and only near a
# point the caller gives).
non_data_endpoint("ui:router_home", "ui:router_retrain_page", "ui:router_run", "ui:router_activate",
                  "ui:router_suggest")

register(MenuItem("router_triage", gettext_noop("待分拨"), "ui:router_triage", "cases.intake", order=32))
register(MenuItem("router", gettext_noop("智能分拨"), "ui:router_home", MANAGE, order=33))

__all__ = ["describe", "percent", "suggested_category", "suggestion_panel", "urlpatterns"]
