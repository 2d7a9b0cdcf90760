"""应急物资 pages: warehouses on a map, a warehouse with its stock, movements and forms, stock counts, shortages
and expiring stock, the nearest-stock finder, the ledger export and the stock import.

Thin: reads through `civicgrid.apps.materials.selectors` (every one from `visible_to`), writes through the
app's services (forms post to small views that call one service and redirect back with a message; a refused
movement changes nothing and says why).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods, require_POST

from civicgrid.apps.materials import selectors, services
from civicgrid.apps.materials.models import (
    Condition,
    Level,
    MaterialItem,
    StockCount,
    StockTarget,
    Warehouse,
)
from civicgrid.apps.materials.services.common import can, can_manage_catalogue
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.regions.models import Level as RegionLevel
from civicgrid.foundation.regions.models import Region
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, clean_code, page_view, paginate, region_choices, scoped_get

VIEW, CHANGE, MANAGE = "materials.view", "materials.change", "materials.manage"
MOVEMENT_LIMIT = 50
FORM_KINDS = (("in", _("入库")), ("out", _("出库")), ("issue", _("出库至险情")), ("transfer", _("调拨")),
              ("condition", _("状态变更")))


def _items():
    return list(MaterialItem.objects.filter(is_active=True).order_by("group", "grade", "code"))


def _point(wh: Warehouse) -> dict:
    return {"id": wh.pk, "code": wh.code, "name": wh.name, "level": wh.level, "lat": wh.lat, "lng": wh.lng,
            "url": reverse("ui:materials_warehouse", args=[wh.pk])}


@page_view(VIEW)
def warehouse_list(request):
    """Warehouses in scope (and those above it), filtered, with a map of all of them."""
    region = clean_code(request.GET.get("region"))
    level = request.GET.get("level") if request.GET.get("level") in Level.values else ""
    q = (request.GET.get("q") or "").strip()[:40]
    qs = selectors.warehouse_list(request.user, region=region, level=level, q=q)
    page_obj = paginate(request, qs)
    points = [_point(w) for w in selectors.warehouse_list(request.user, region=region, level=level, q=q)
              .select_related(None).only("pk", "code", "name", "level", "lat", "lng")[:2000]]
    return render(request, "materials/list.html", {
        "page_obj": page_obj, "points": points, "f": {"region": region, "level": level, "q": q},
        "levels": Level.choices, "region_choices": region_choices(request.user, VIEW, region),
        "short_count": len(selectors.target_status(request.user)),
        "can_manage": has_capability(request.user, MANAGE), "can_change": has_capability(request.user, CHANGE),
        "manage_regions": region_choices(request.user, MANAGE) if has_capability(request.user, MANAGE) else [],
        "departments": _departments() if has_capability(request.user, MANAGE) else [],
    })


@page_view(VIEW)
def warehouse_detail(request, pk: int):
    """One warehouse: holdings per item, lots, recent movements, counts, and the forms its keepers use."""
    wh = scoped_get(Warehouse.objects.select_related("region", "department").with_patron(), request.user, pk=pk)
    may_change = can(request.user, CHANGE, wh.region_code, wh.department_id)
    lots = selectors.stock_list(request.user, warehouse=wh).exclude(quantity=0)
    movements = list(selectors.movement_list(request.user, warehouse=wh)[:MOVEMENT_LIMIT])
    counts = list(selectors.count_list(request.user, warehouse=wh)[:10])
    destinations = list(selectors.warehouse_list(request.user, active_only=True).exclude(pk=wh.pk).select_related(None)
                        .only("pk", "code", "name")) if may_change else []
    return render(request, "materials/detail.html", {
        "wh": wh, "summary": selectors.warehouse_summary(wh), "lots": lots, "movements": movements,
        "counts": counts, "may_change": may_change, "items": _items() if may_change else [],
        "destinations": destinations, "kinds": FORM_KINDS, "conditions": Condition.choices,
        "open_count": next((c for c in counts if c.status == StockCount.Status.OPEN), None),
        "points": [_point(wh)], "today": timezone.localdate(),
        "may_manage": can(request.user, MANAGE, wh.region_code) and has_capability(request.user, MANAGE),
        "manage_regions": region_choices(request.user, MANAGE, wh.region_code),
        "departments": _departments() if has_capability(request.user, MANAGE) else [],
    })


def _back(request, default: str):
    return redirect(request.POST.get("next") if (request.POST.get("next") or "").startswith("/materials/")
                    else default)


@require_POST
@capability_required(CHANGE)
def warehouse_move(request, pk: int):
    """One movement from the warehouse page's form; back to the page with what happened."""
    wh = scoped_get(Warehouse.objects.all(), request.user, pk=pk)
    post = request.POST
    try:
        rows = services.record_movement(
            actor=request.user, kind=post.get("kind", ""), warehouse=wh, item=post.get("item", ""),
            quantity=post.get("quantity", ""), reason=post.get("reason", ""), batch=post.get("batch", ""),
            expiry_date=post.get("expiry_date") or None, destination=post.get("destination") or None,
            incident_ref=post.get("incident_ref", ""), to_condition=post.get("to_condition", ""),
            condition=post.get("condition") or Condition.GOOD)
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        first = rows[0]
        total = sum(m.quantity for m in rows if m.warehouse_id == wh.pk)
        messages.success(request, _("已登记%(kind)s：%(item)s %(qty)s%(unit)s，结存 %(bal)s") % {
            "kind": first.get_kind_display(), "item": first.item.name, "qty": f"{total:+d}", "unit": first.item.unit,
            "bal": next(m.balance_after for m in reversed(rows) if m.warehouse_id == wh.pk)})
    return redirect("ui:materials_warehouse", pk=wh.pk)


def _departments():
    from civicgrid.foundation.orgs.models import Organisation, OrgKind

    return list(Organisation.objects.filter(kind=OrgKind.DEPARTMENT, is_active=True).only("pk", "name")
                .order_by("name"))


@require_POST
@capability_required(MANAGE)
def warehouse_save(request):
    """Add a warehouse, or change one (by its code), from the list or detail page's form."""
    post = request.POST
    try:
        wh = services.save_warehouse(
            actor=request.user, code=post.get("code", ""), name=post.get("name", ""), region=post.get("region", ""),
            lat=post.get("lat"), lng=post.get("lng"), department=post.get("department") or None,
            address=post.get("address", ""), keeper=post.get("keeper", ""),
            keeper_phone=post.get("keeper_phone") if post.get("keeper_phone", "").strip() else None,
            is_active=post.get("is_active", "1") == "1", note=post.get("note", ""))
    except CivicgridError as exc:
        messages.error(request, exc.message)
        return redirect(request.POST.get("back") if request.POST.get("back", "").startswith("/materials/")
                        else "ui:materials")
    messages.success(request, _("仓库已保存：%(name)s") % {"name": wh.name})
    return redirect("ui:materials_warehouse", pk=wh.pk)


@require_POST
@capability_required(CHANGE)
def count_start(request, pk: int):
    wh = scoped_get(Warehouse.objects.all(), request.user, pk=pk)
    try:
        count = services.start_count(actor=request.user, warehouse=wh, note=request.POST.get("note", ""))
    except CivicgridError as exc:
        messages.error(request, exc.message)
        return redirect("ui:materials_warehouse", pk=wh.pk)
    return redirect("ui:materials_count", pk=count.pk)


@require_http_methods(["GET", "POST"])
@capability_required(VIEW)
def count_detail(request, pk: int):
    """A stock count: expected and counted quantities with their differences; enter, confirm or cancel."""
    count = scoped_get(StockCount.objects.select_related("warehouse", "started_by", "confirmed_by"), request.user,
                       pk=pk)
    wh = count.warehouse
    may_change = can(request.user, CHANGE, wh.region_code, wh.department_id)
    if request.method == "POST":
        if not may_change:
            raise DjangoPermissionDenied
        action = request.POST.get("action", "save")
        try:
            entries = [{"line": key.removeprefix("counted_"), "counted": value}
                       for key, value in request.POST.items() if key.startswith("counted_") and value.strip() != ""]
            if request.POST.get("new_item") and request.POST.get("new_counted", "").strip():
                entries.append({"item": request.POST["new_item"], "batch": request.POST.get("new_batch", ""),
                                "condition": request.POST.get("new_condition") or Condition.GOOD,
                                "counted": request.POST["new_counted"]})
            if action == "cancel":
                services.cancel_count(actor=request.user, count=count, reason=request.POST.get("reason", ""))
                messages.success(request, _("盘点已作废"))
            else:
                if entries:
                    services.enter_counts(actor=request.user, count=count, lines=entries)
                if action == "confirm":
                    services.confirm_count(actor=request.user, count=count)
                    messages.success(request, _("盘点已确认，差异已记为盘点调整"))
                else:
                    messages.success(request, _("实盘数已保存"))
        except CivicgridError as exc:
            messages.error(request, exc.message)
            for e in exc.details or []:
                if isinstance(e, dict):
                    messages.error(request, _("第 %(row)s 项：%(msg)s") % {"row": e.get("row"), "msg": e.get("message")})
        return redirect("ui:materials_count", pk=count.pk)
    lines = list(count.lines.select_related("item"))
    return render(request, "materials/count.html", {
        "count": count, "wh": wh, "lines": lines, "may_change": may_change and count.status == StockCount.Status.OPEN,
        "items": _items(), "conditions": Condition.choices,
        "differences": sum(1 for line in lines if line.difference), "uncounted": sum(line.counted is None for line in lines),
    })


def _streets(user) -> list[Region]:
    scope = scope_for(user, MANAGE)
    qs = Region.objects.filter(level=RegionLevel.STREET).order_by("code")
    return [r for r in qs if scope.everything or scope.covers_code(r.code)]


@page_view(VIEW)
def shortages(request):
    """Streets below their targets (储备定额), every target with its holding, and stock expiring soon."""
    try:
        days = max(0, min(int(request.GET.get("days") or 30), 3650))
    except ValueError:
        days = 30
    street = clean_code(request.GET.get("street"))
    rows = selectors.target_status(request.user, street=street, only_short=False)
    return render(request, "materials/shortages.html", {
        "short": [r for r in rows if r.held < r.target.min_quantity],
        "met": [r for r in rows if r.held >= r.target.min_quantity],
        "expiring": list(selectors.expiring(request.user, days=days)[:200]), "days": days,
        "today": timezone.localdate(), "street": street,
        "can_manage": has_capability(request.user, MANAGE), "streets": _streets(request.user), "items": _items(),
    })


@require_POST
@capability_required(MANAGE)
def target_set(request):
    try:
        target = services.set_target(actor=request.user, street=request.POST.get("street", ""),
                                     item=request.POST.get("item", ""), min_quantity=request.POST.get("min_quantity"),
                                     note=request.POST.get("note", ""))
    except CivicgridError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已设定储备定额：%(street)s %(item)s ≥ %(n)s") % {
            "street": target.street.name, "item": target.item.name, "n": target.min_quantity})
    return redirect("ui:materials_shortages")


@page_view(VIEW)
def nearest(request):
    """最近物资: the nearest warehouses holding at least Q of an item, for a hazard point or a point."""
    params = request.GET
    ask = {"item": (params.get("item") or "").strip()[:32], "quantity": (params.get("quantity") or "1").strip()[:12],
           "hazard": (params.get("hazard") or "").strip()[:18], "lat": (params.get("lat") or "").strip()[:20],
           "lng": (params.get("lng") or "").strip()[:20], "limit": (params.get("limit") or "5").strip()[:3],
           "street": clean_code(params.get("street"))}
    context = {"ask": ask, "items": _items(), "results": None, "error": "", "hazard": None, "points": [],
               "street": None}
    if ask["street"]:  # from a shortage: borrow for this street, from warehouses outside it
        target = (StockTarget.objects.visible_to(request.user, "view").select_related("street")
                  .filter(street__code=ask["street"]).first())
        if target is None:
            raise Http404("未找到该街道的储备定额，或不在您的权限范围内")
        context["street"] = target.street
    status = 200
    if ask["item"]:
        try:
            lat, lng = ask["lat"], ask["lng"]
            if ask["hazard"]:
                from civicgrid.apps.hazards.models import Hazard

                hazard = Hazard.objects.visible_to(request.user, "view").filter(
                    pk=int(ask["hazard"]) if ask["hazard"].isdigit() else 0).only("code", "name", "lat", "lng").first()
                if hazard is None:
                    raise Http404
                context["hazard"], lat, lng = hazard, hazard.lat, hazard.lng
            quantity = services.common.clean_quantity(ask["quantity"])
            found = selectors.nearest_warehouses(lat, lng, ask["item"], quantity, ask["limit"], user=request.user,
                                                 outside=ask["street"])
            for n in found:
                n.distance_label = f"{n.distance_m / 1000:.1f} km" if n.distance_m >= 1000 else f"{n.distance_m:.0f} m"
            context["results"] = found
            context["origin"] = {"lat": float(lat), "lng": float(lng)}
            context["points"] = [{"id": n.id, "code": n.code, "name": n.name, "level": n.level, "lat": n.lat,
                                  "lng": n.lng, "url": reverse("ui:materials_warehouse", args=[n.id]),
                                  "rank": i + 1} for i, n in enumerate(found)]
        except CivicgridError as exc:
            context["error"], status = one_language(exc.message), 400
    return render(request, "materials/nearest.html", context, status=status)


@page_view(VIEW)
def ledger_export(request):
    """物资台账 of the user's scope (or a region, `?region=`, or a warehouse, `?warehouse=`) as XLSX."""
    from civicgrid.apps.materials.services.ledger import lots_for_export

    wh = None
    if (request.GET.get("warehouse") or "").isdigit():
        wh = scoped_get(Warehouse.objects.all(), request.user, pk=int(request.GET["warehouse"][:18]))
    lots = lots_for_export(request.user, warehouse=wh, region=clean_code(request.GET.get("region")))
    body = services.export_ledger(actor=request.user, lots=lots)
    return file_response(body, f"materials-ledger-{timezone.localdate():%Y%m%d}.xlsx", XLSX_TYPE)


@require_http_methods(["GET", "POST"])
@capability_required(CHANGE)
def stock_import(request):
    """Upload an XLSX/CSV of stock (入库 per row); applied only when every row is right."""
    from civicgrid.apps.materials.services.ledger import COLUMNS

    errors, status = [], 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("请选择要上传的文件"))
            status = 400
        else:
            try:
                done = services.import_stock(actor=request.user, data=upload.read(), filename=upload.name or "")
            except CivicgridError as exc:
                messages.error(request, exc.message)
                errors, status = exc.details or [], 400
            else:
                messages.success(request, _("已导入 %(rows)s 行") % {"rows": done["rows"]})
                return redirect("ui:materials")
    return render(request, "materials/import.html", {"errors": errors, "columns": list(COLUMNS.values()),
                                                     "can_manage_catalogue": can_manage_catalogue(request.user)},
                  status=status)


@require_http_methods(["GET", "POST"])
@capability_required(VIEW)
def catalogue(request):
    """物资目录: kinds of material with unit, group and grade; district managers add and change them."""
    from civicgrid.apps.materials.models import Grade, Group

    may_manage = can_manage_catalogue(request.user) and has_capability(request.user, MANAGE)
    if request.method == "POST":
        if not may_manage:
            raise DjangoPermissionDenied
        post = request.POST
        try:
            item = services.save_item(actor=request.user, code=post.get("code", ""), name=post.get("name", ""),
                                      unit=post.get("unit", ""), group=post.get("group", ""),
                                      grade=post.get("grade", "B"), spec=post.get("spec", ""),
                                      tracks_expiry=post.get("tracks_expiry") == "1",
                                      is_active=post.get("is_active", "1") == "1", note=post.get("note", ""))
        except CivicgridError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("已保存物资品种：%(name)s") % {"name": item.name})
        return redirect("ui:materials_catalogue")
    return render(request, "materials/catalogue.html", {
        "items": MaterialItem.objects.order_by("group", "grade", "code"), "may_manage": may_manage,
        "groups": Group.choices, "grades": Grade.choices})


urlpatterns = [
    path("", warehouse_list, name="materials"),
    path("warehouses/<int:pk>/", warehouse_detail, name="materials_warehouse"),
    path("warehouses/save", warehouse_save, name="materials_warehouse_save"),
    path("warehouses/<int:pk>/move", warehouse_move, name="materials_move"),
    path("warehouses/<int:pk>/count", count_start, name="materials_count_start"),
    path("counts/<int:pk>/", count_detail, name="materials_count"),
    path("shortages/", shortages, name="materials_shortages"),
    path("targets", target_set, name="materials_target_set"),
    path("nearest/", nearest, name="materials_nearest"),
    path("ledger.xlsx", ledger_export, name="materials_ledger"),
    path("import/", stock_import, name="materials_import"),
    path("catalogue/", catalogue, name="materials_catalogue"),
]

data_endpoint("ui:materials", "materials.Warehouse", "list")
data_endpoint("ui:materials_warehouse", "materials.Warehouse", "detail")
data_endpoint("ui:materials_count", "materials.StockCount", "detail")
data_endpoint("ui:materials_shortages", "materials.StockTarget", "list")
data_endpoint("ui:materials_ledger", "materials.StockLot", "export")
# Needs a point and an item: the contract checks status, HTML tables and markers; scope is tested in the app.
data_endpoint("ui:materials_nearest", "materials.Warehouse", "detail")
# The catalogue is district-wide reference data (kinds of material), not regional records.
non_data_endpoint("ui:materials_catalogue")
# Forms that post to a service and redirect: scope and capability are checked by the services.
non_data_endpoint("ui:materials_move", "ui:materials_warehouse_save", "ui:materials_count_start", "ui:materials_target_set", "ui:materials_import")

register(MenuItem("materials", gettext_noop("应急物资"), "ui:materials", VIEW, order=53))
