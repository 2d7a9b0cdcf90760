"""The grid worker's phone report page (上报) and the small JSON views it talks to with the session.

The page works on a flaky connection: the browser makes an idempotency key when the form opens (or takes the
key of the draft it restores, so one draft sent from two tabs is one case), submits with fetch and retries with
the same key until the server answers, keeping a draft meanwhile (`static/ui/report-phone.js`): its text in
localStorage, its photos in IndexedDB, so a reload or a closed tab sends the same bytes again. The server side is
`cases.services.submit_case(idempotency_key=...)`: a retry whose first attempt did reach the server (the same
fields and the same photos, in the same order) gets the case already created, never a second one.

The API's `/api/v1/locate` takes bearer tokens only, so the page asks `locate` here, with its session.

The map: staff who may open the region pages get the scoped GeoJSON of their area (with its grids); every other
reporter (residents, and staff without the region pages) gets the district's public outline (`report_outline`:
the district, its streets and communities, names and coarse boundaries only), so a tap always lands on a drawn
map.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from civicgrid.apps.cases import conf as case_conf
from civicgrid.apps.cases import services
from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.services.intake import _idempotency, is_public_only
from civicgrid.apps.cases_documents import qr
from civicgrid.apps.categories.models import in_use_q
from civicgrid.apps.categories.selectors import visible_categories
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core import ratelimit
from civicgrid.foundation.core.errors import CivicgridError, ValidationFailed
from civicgrid.foundation.core.middleware import client_ip
from civicgrid.foundation.core.photos import max_photo_bytes
from civicgrid.foundation.core.text import refuse_nul
from civicgrid.foundation.people.models import Building
from civicgrid.foundation.regions import selectors as regions
from civicgrid.foundation.regions.outline import public_outline

from .cases_shared import category_groups, error_text, report_source, scope_root
from .common import capability_required
from .regions import DISTRICT_ATTRIBUTION

BUILDING_LIMIT = 20
# What the page's scripts say, translated here (the scripts carry no text of their own).
SCRIPT_MESSAGES = {
    "locating": gettext_lazy("正在获取手机定位…"),
    "gps_denied": gettext_lazy("无法获取定位：请允许定位权限，或在地图上点选位置"),
    "gps_missing": gettext_lazy("此浏览器不支持定位，请在地图上点选位置"),
    "checking": gettext_lazy("正在确认所在网格…"),
    "in_grid": gettext_lazy("所在网格"),
    "not_located": gettext_lazy("尚未定位"),
    "no_match": gettext_lazy("没有匹配的分类"),
    "no_building": gettext_lazy("没有匹配的楼栋"),
    "chosen": gettext_lazy("已选"),
    "sending": gettext_lazy("正在提交…"),
    "retrying": gettext_lazy("网络不稳定，草稿已保存在手机上，{seconds} 秒后自动重试（第 {attempt} 次）"),
    "retry_now": gettext_lazy("立即重试"),
    "held_back": gettext_lazy("{detail}。草稿已保存在手机上，届时自动重试"),
    "gave_up": gettext_lazy("多次提交未成功，草稿已保存。请在网络恢复后点击“立即重试”"),
    "signed_out": gettext_lazy("登录已过期，草稿已保存。请重新登录后回到本页提交"),
    "restored": gettext_lazy("已恢复未提交的草稿"),
    "restored_missing": gettext_lazy("已恢复未提交的草稿；有 {count} 张照片未能恢复，请重新添加"),
    "photo_too_large": gettext_lazy("照片“{name}”过大（{size} MB），上限 {limit} MB，未添加"),
    "photo_not_image": gettext_lazy("“{name}”不是照片（只能上传 JPEG、PNG 或 WebP 图片），未添加，请换一张"),
    "remove_photo": gettext_lazy("移除"),
    "remove_named": gettext_lazy("移除照片“{name}”"),
    "outside_hint": gettext_lazy("请在地图上点选本区内的位置，或按地址选择。"),  # with the address picker
    "gcj_converted": gettext_lazy("（经纬度按国内地图 GCJ-02 坐标换算）"),
    "too_many_chosen": gettext_lazy("一次最多上传 {max} 张照片，多选的 {extra} 张未添加"),
    "too_many_photos": gettext_lazy("一次最多上传 {max} 张照片，请减少照片"),
    "photos_not_kept": gettext_lazy("照片未能保存在手机上：请在刷新或关闭本页之前提交"),
    "discard_confirm": gettext_lazy("放弃这份草稿？已填写的内容和照片将从手机上删除。"),
    "discarded": gettext_lazy("草稿已放弃"),
    "already_sent": gettext_lazy("该草稿已提交成功"),
    "created": gettext_lazy("上报成功"),
    "replayed": gettext_lazy("上报成功（重试的提交已合并为同一案卷）"),
    "need_what": gettext_lazy("请选择分类或填写描述"),
    "need_after": gettext_lazy("自行处置须上传处置后照片"),
    "need_category": gettext_lazy("自行处置须选择分类"),
    "not_sent": gettext_lazy("未能提交，草稿已保存：{detail}"),
    "copied": gettext_lazy("已复制链接"),
    "copy_failed": gettext_lazy("无法自动复制，请长按链接复制"),
    # The language's punctuation around what the scripts put together.
    "colon": gettext_lazy("："),
    "in_brackets": gettext_lazy("（{text}）"),
}
# Said instead where the page has no address picker (the user has no base-data access, or a desk form).
OUTSIDE_HINT_MAP_ONLY = gettext_lazy("请在地图上点选本区内的位置。")
JSON_OPTIONS = {"ensure_ascii": False}
# How long a browser keeps the outline before asking again (with its ETag: an unchanged outline is a 304).
OUTLINE_MAX_AGE = 300


def script_messages(*, address_picker: bool) -> dict:
    """The scripts' messages for a form with or without the address picker (hints name only what it offers)."""
    return SCRIPT_MESSAGES if address_picker else {**SCRIPT_MESSAGES, "outside_hint": OUTSIDE_HINT_MAP_ONLY}


def _json(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status, json_dumps_params=JSON_OPTIONS)
    response["Cache-Control"] = "no-store"
    return response


def _error(exc: CivicgridError) -> JsonResponse:
    response = _json({"detail": error_text(exc), "field": exc.field or "", "code": exc.code}, status=exc.status)
    for name, value in getattr(exc, "headers", {}).items():  # a 429's Retry-After, which the page waits for
        response[name] = value
    return response


def map_context(user, capability: str) -> dict:
    """The report map's data and where it starts: for users of the region pages, the scoped GeoJSON of the
    smallest region holding their area (its outline and children); for everybody else the district's public
    outline, shown at their own community or street when they have one (`map_focus`; grids are not in it)."""
    root = scope_root(user, capability)
    if root and has_capability(user, "regions.view"):
        return {"map_root": root, "geojson_url": reverse("ui:region_geojson", args=[root]), "map_focus": "",
                "map_attribution": DISTRICT_ATTRIBUTION if len(root) == 6 else ""}
    focus = root[:12] if len(root) > 6 else ""
    return {"map_root": root, "geojson_url": reverse("ui:case_report_outline"), "map_focus": focus,
            "map_attribution": DISTRICT_ATTRIBUTION}


@require_safe
@capability_required("cases.report")
def report_page(request):
    """The phone-first report form: category, description, photos, location (GPS, map or address)."""
    user = request.user
    can_search_buildings = has_capability(user, "people.view")
    context = {
        "categories": category_groups(user),
        "can_self_handle": has_capability(user, "cases.verify"),
        "can_search_buildings": can_search_buildings,
        "can_view_cases": has_capability(user, "cases.view"),
        # The follow link is the resident's own; staff forward it to the person who raised the problem.
        "reports_as_public": is_public_only(user),
        # A server-made key for browsers without crypto.randomUUID (plain-HTTP intranets): the script prefers
        # its own, made when the form opens.
        "fallback_key": uuid.uuid4().hex,
        # The server's photo limits: the page keeps no photo in its draft that the server would refuse.
        "max_photo_bytes": max_photo_bytes(),
        "max_photos": case_conf.max_photos_per_request(),
        "script_messages": script_messages(address_picker=can_search_buildings),
        **map_context(user, "cases.report"),
    }
    return render(request, "cases/report.html", context)


def limit_outline(request) -> None:
    """The outline is rate limited like the other doors the public uses (SECURITY.md "Web and API"): per account
    and per address (`CIVICGRID_OUTLINE_*` settings); an empty bucket is `ratelimit.RateLimited` (a 429). A
    failed bucket store lets the request through, as public reporting does."""
    buckets = [(f"outline:user:{request.user.pk}",
                ratelimit.configured("CIVICGRID_OUTLINE_RATE_PER_MINUTE", "CIVICGRID_OUTLINE_BURST"))]
    address = client_ip(request)
    if address:
        buckets.append((f"outline:addr:{address}", ratelimit.configured("CIVICGRID_OUTLINE_ADDRESS_RATE_PER_MINUTE",
                                                                        "CIVICGRID_OUTLINE_ADDRESS_BURST")))
    ratelimit.check(*buckets)


@require_safe
@capability_required("cases.report")
def report_outline(request):
    """The district's public outline for the report map (`regions.outline`): the district, streets and
    communities/villages, names, codes and coarse boundaries only, the same for every reporter. Cached by the
    browser for a few minutes and then asked again with its ETag (304 while unchanged)."""
    try:
        limit_outline(request)
    except ratelimit.RateLimited as exc:
        return _error(exc)
    outline = public_outline()
    response = HttpResponse(outline.body, content_type="application/geo+json; charset=utf-8")
    response["ETag"] = outline.etag
    # Private: only signed-in reporters may load it, so no shared cache (a proxy) may keep it for others.
    response["Cache-Control"] = f"private, max-age={OUTLINE_MAX_AGE}"
    return get_conditional_response(request, etag=outline.etag, response=response)


def _title(category, description: str) -> str:
    """A title for a phone report, which asks for none: the category, then the start of the description. A
    report with neither says nothing of what happened, and is refused (as the API refuses one without a title)."""
    text = " ".join(description.split())
    if category is not None:
        return f"{category.name}：{text[:40]}" if text else category.name
    if not text:
        raise ValidationFailed("请选择分类或填写描述 / choose a category or describe the problem", field="description")
    return text[:60]


def _photos(request, self_handled: bool) -> list:
    """The uploaded photos with their stage. 处置后 photos belong to a report handled on the spot only: on any
    other they would label a picture of the finished work on a case nobody has handled."""
    if not self_handled and request.FILES.getlist("photos_after"):
        raise ValidationFailed("处置后照片只能随自行处置的上报提交 / after photos only come with a self-handled report",
                               field="photos_after")
    files = [("before" if self_handled else "photo", f) for f in request.FILES.getlist("photos")]
    files += [("before", f) for f in request.FILES.getlist("photos_before")]
    files += [("after", f) for f in request.FILES.getlist("photos_after")]
    return files


def _category(user, value: str):
    """The chosen category, if the user may report under it (the picker offers no others)."""
    value = (value or "").strip()
    if not value:
        return None
    found = (visible_categories(user).filter(in_use_q(), pk=int(value), parent__isnull=False).first()
             if value.isdigit() and len(value) < 18 else None)
    if found is None:
        raise ValidationFailed("未知的事件分类 / unknown category", field="category")
    return found


def _created_body(request, case: Case, created: bool) -> dict:
    token = getattr(case, "follow_token", "") or ""
    return {
        "created": created,
        "number": case.number,
        "status": case.status,
        "status_label": str(Status(case.status).label),
        "grid": case.grid.name if case.grid_id else "",
        "url": reverse("ui:case_detail", args=[case.number]) if has_capability(request.user, "cases.view") else "",
        # the address the reporter can open (`CIVICGRID_PUBLIC_BASE_URL`), as the QR code and SMS carry it
        "follow_url": qr.follow_link(token, request) if token else "",
    }


@require_http_methods(["GET", "POST"])
@capability_required("cases.report")
def case_submit(request):
    """POST: the phone page's report (multipart). 201 with the new case; 200 with the same case when the
    idempotency key was seen before (a retry after a lost answer). GET `?key=`: whether a draft's key has
    already become a case (the page asks after a reload, before sending the draft again)."""
    if request.method == "GET":
        return case_submit_status(request)
    data = request.POST
    self_handled = data.get("self_handled") in ("1", "true", "on")
    try:
        photos = _photos(request, self_handled)
        category = _category(request.user, data.get("category", ""))
        # The title is made from the description: a NUL in it is refused as the description's, the field the
        # user typed into (this page has no title to name).
        description = refuse_nul(data.get("description", ""), "description", "描述")
        case, created = services.submit_case(
            actor=request.user,
            title=data.get("title", "").strip() or _title(category, description),
            description=description,
            lng=data.get("lng") or None,
            lat=data.get("lat") or None,
            crs=data.get("crs") or "wgs84",
            category=category,
            address=data.get("address", ""),
            source=report_source(request.user, self_handled=self_handled),
            photos=photos,
            idempotency_key=data.get("idempotency_key") or None,
            self_handled=self_handled,
        )
    except CivicgridError as exc:
        return _error(exc)
    return _json(_created_body(request, case, created), status=201 if created else 200)


def case_submit_status(request):
    """Whether this user's key has become a case (only the user's own keys are ever found: the stored key is
    bound to the account that sent it). The stored form of a key is the intake service's (`_idempotency`);
    asked of it rather than copied, so the two cannot drift apart."""
    key = request.GET.get("key", "")
    try:
        stored = _idempotency(request.user, key)
    except ValidationFailed as exc:
        return _error(exc)
    case = Case.objects.filter(idempotency_key=stored).select_related("grid").first() if stored else None
    if case is None:
        return _json({"found": False})
    token = case.reporters.filter(original_case=case).order_by("pk").values_list("follow_token", flat=True).first()
    case.follow_token = token or ""
    return _json({"found": True, **_created_body(request, case, False)})


@require_safe
@capability_required("cases.report")
def locate_point(request):
    """The grid, community, street and district at a point (WGS-84, GCJ-02 or BD-09), for the preview shown
    before a report is sent. Region names are the public administrative directory; no business data."""
    try:
        found = regions.locate(request.GET.get("lng"), request.GET.get("lat"), request.GET.get("crs") or "wgs84")
    except CivicgridError as exc:
        return _error(exc)
    return _json({
        "grid": found.grid.as_dict() if found.grid else None,
        "community": found.community.as_dict() if found.community else None,
        "street": found.street.as_dict() if found.street else None,
        "crs_in": found.crs_in,
        "wgs84": [round(found.lng, 7), round(found.lat, 7)],
    })


@require_safe
@capability_required("cases.report")
def building_search(request):
    """Buildings (standard addresses) in the user's base-data scope matching `q`, with a point to report at
    (the building's own, else its grid's centre). Empty for users without base-data access."""
    q = " ".join(request.GET.get("q", "").split())[:50]
    qs = Building.objects.visible_to(request.user).select_related("grid").only(
        "pk", "code", "address", "name", "estate", "lng", "lat", "grid__code", "grid__name", "grid__centroid_lng",
        "grid__centroid_lat")
    if q:
        qs = qs.filter(Q(address__icontains=q) | Q(name__icontains=q) | Q(estate__icontains=q) | Q(code=q))
    items = []
    for b in qs.order_by("code")[:BUILDING_LIMIT]:
        lng, lat = b.lng, b.lat
        if (lng is None or lat is None) and b.grid_id:
            lng, lat = b.grid.centroid_lng, b.grid.centroid_lat
        items.append({"id": b.pk, "code": b.code, "address": b.address, "name": b.name or b.estate,
                      "lng": lng, "lat": lat, "grid": b.grid.name if b.grid_id else ""})
    return _json({"items": items, "count": len(items)})
