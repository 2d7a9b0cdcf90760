"""Base-data pages (一标三实): buildings, houses, households, residents, units and places within scope.

Every list and detail starts from `Model.objects.visible_to(user, "view")`. Lists are filtered by region code
prefix, a search box and (units, places) a kind; they are paged by 50 with a fixed number of queries per page.
Residents show masked numbers only; the clear value comes from `people.services.reveal`, which audits it,
behind a button shown only to users holding `people.reveal` over the resident's grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy
from django.views.decorators.http import require_POST

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import scope_for
from civicgrid.foundation.people.models import (
    Building,
    House,
    Household,
    KeyGroupLabel,
    Place,
    Resident,
    Unit,
)
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import (
    Column,
    capability_required,
    clean_code,
    field_rows,
    in_region,
    page_view,
    paginate,
    region_choices,
    scoped_get,
    search,
    table_rows,
)

RELATED_LIMIT = 200  # rows of related objects on a detail page (a building's houses, a household's members)


@dataclass(frozen=True)
class ListSpec:
    """How one base-data model is listed: columns, search fields, joins, optional kind filter."""

    slug: str
    model: type[models.Model]
    title: object
    columns: list[Column]
    search_fields: tuple[str, ...]
    search_hint: object
    select_related: tuple[str, ...] = ()
    kind_field: str | None = None
    detail_fields: tuple[str, ...] = field(default=())

    @property
    def list_url(self) -> str:
        return f"ui:{self.slug}_list"

    @property
    def detail_url(self) -> str:
        return f"ui:{self.slug}_detail"

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def visible(self, user):
        return self.model.objects.visible_to(user, "view").select_related(*self.select_related)


GRID = Column(_("网格"), "grid.name")

SPECS: dict[str, ListSpec] = {
    s.slug: s
    for s in (
        ListSpec(
            "building", Building, pgettext_lazy("list", "楼栋"),
            [Column(_("楼栋编码"), "code", link=True), Column(_("标准地址"), "address"), Column(_("小区"), "estate"),
             Column(_("用途"), "get_use_display"), Column(_("层数"), "floors"), GRID],
            ("code", "address", "name", "estate"), _("编码、地址、小区"), ("grid",),
            detail_fields=("code", "address", "name", "estate", "use", "floors", "built_year", "property_company"),
        ),
        ListSpec(
            "house", House, pgettext_lazy("list", "房屋"),
            [Column(_("房屋编码"), "code", link=True), Column(_("楼栋"), "building.address"),
             Column(_("单元"), "unit_no"), Column(_("房号"), "room_no"), Column(_("使用情况"), "get_use_display"), GRID],
            ("code", "room_no", "building__address"), _("编码、房号、楼栋地址"), ("building", "grid"),
            detail_fields=("code", "building", "unit_no", "room_no", "area_m2", "use"),
        ),
        ListSpec(
            "household", Household, pgettext_lazy("list", "户"),
            [Column(_("户编号"), "code", link=True), Column(_("户主姓名"), "head_name"), Column(_("住址"), "address"),
             Column(_("人数"), "size"), GRID],
            ("code", "head_name", "address"), _("户编号、户主、住址"), ("grid",),
            detail_fields=("code", "head_name", "address", "house", "registered", "size"),
        ),
        ListSpec(
            "resident", Resident, _("实有人口"),
            [Column(_("姓名"), "name", link=True), Column(_("性别"), "get_sex_display"),
             Column(_("身份证号"), "id_number_masked"), Column(_("电话"), "phone_masked"),
             Column(_("人口类型"), "get_residency_display"), GRID],
            ("name",), _("姓名"), ("grid",),
            detail_fields=("name", "sex", "birth_date", "residency", "ethnicity", "household", "relation", "work_place"),
        ),
        ListSpec(
            "unit", Unit, _("实有单位"),
            [Column(_("单位名称"), "name", link=True), Column(_("类型"), "get_kind_display"),
             Column(_("统一社会信用代码"), "credit_code"), Column(_("负责人"), "contact_name"),
             Column(_("联系电话"), "contact_phone_masked"), GRID],
            ("name", "credit_code", "address"), _("名称、信用代码、地址"), ("grid",), kind_field="kind",
            detail_fields=("name", "kind", "credit_code", "address", "building", "contact_name",
                           "contact_phone_masked", "employees"),
        ),
        ListSpec(
            "place", Place, _("场所设施"),
            [Column(_("名称"), "name", link=True), Column(_("类型"), "get_kind_display"), Column(_("地址"), "address"),
             GRID],
            ("name", "address"), _("名称、地址"), ("grid",), kind_field="kind",
            detail_fields=("name", "kind", "address", "description", "lng", "lat"),
        ),
    )
}


def table(spec: ListSpec, objects) -> dict:
    """Context for the shared list table partial."""
    return {
        "rows": table_rows(objects, spec.columns),
        "headers": [c.label for c in spec.columns],
        "model_label": spec.label,
        "detail_url_name": spec.detail_url,
    }


def _tabs(current: str) -> list[dict]:
    return [{"slug": s.slug, "title": s.title, "url": s.list_url, "current": s.slug == current} for s in SPECS.values()]


def _list_view(spec: ListSpec):
    @page_view("people.view")
    def view(request):
        region_code = clean_code(request.GET.get("region"))
        q = request.GET.get("q", "")
        qs = in_region(spec.visible(request.user), "region_code", region_code)
        qs = search(qs, spec.search_fields, q)
        kind = ""
        kind_choices = []
        if spec.kind_field:
            kind_choices = spec.model._meta.get_field(spec.kind_field).choices
            kind = request.GET.get("kind", "")
            if kind in dict(kind_choices):
                qs = qs.filter(**{spec.kind_field: kind})
            else:
                kind = ""
        page_obj = paginate(request, qs)
        context = {
            "spec": spec,
            "tabs": _tabs(spec.slug),
            "page_obj": page_obj,
            "q": q,
            "search_hint": spec.search_hint,
            "region_code": region_code,
            "region_choices": region_choices(request.user, "people.view", region_code),
            "kind": kind,
            "kind_choices": kind_choices,
            **table(spec, page_obj.object_list),
        }
        return render(request, "people/list.html", context)

    view.__name__ = f"{spec.slug}_list"
    view.__doc__ = f"Paged, filtered list of {spec.model.__name__} within the user's scope."
    return view


# Relations on detail pages link to the related object's own page (which checks scope again).
DETAIL_LINKS = {"building": "ui:building_detail", "house": "ui:house_detail", "household": "ui:household_detail",
                "property_company": "ui:org_detail"}


def _detail(request, spec: ListSpec, obj, template: str = "people/detail.html", fields=None, **extra):
    fields = field_rows(obj, spec.detail_fields, links=DETAIL_LINKS) if fields is None else fields
    return render(request, template, {"spec": spec, "tabs": _tabs(spec.slug), "object": obj, "fields": fields, **extra})


def _related(spec: ListSpec, queryset, title) -> dict:
    """A related list on a detail page (scoped like everything else, capped at RELATED_LIMIT rows)."""
    objects = list(queryset[: RELATED_LIMIT + 1])
    return {"title": title, "more": len(objects) > RELATED_LIMIT, "list_url": spec.list_url,
            **table(spec, objects[:RELATED_LIMIT])}


@page_view("people.view")
def building_detail(request, pk: int):
    """A building, its houses and the units in it."""
    spec = SPECS["building"]
    building = scoped_get(spec.visible(request.user).select_related("property_company"), request.user, pk=pk)
    houses = SPECS["house"].visible(request.user).filter(building=building)
    units = SPECS["unit"].visible(request.user).filter(building=building)
    return _detail(request, spec, building, related=[
        _related(SPECS["house"], houses, pgettext_lazy("list", "房屋")), _related(SPECS["unit"], units, _("实有单位"))])


@page_view("people.view")
def house_detail(request, pk: int):
    """A house and the households living in it."""
    spec = SPECS["house"]
    house = scoped_get(spec.visible(request.user), request.user, pk=pk)
    households = SPECS["household"].visible(request.user).filter(house=house)
    return _detail(request, spec, house, related=[_related(SPECS["household"], households, pgettext_lazy("list", "户"))])


@page_view("people.view")
def household_detail(request, pk: int):
    """A household and its members (masked numbers)."""
    spec = SPECS["household"]
    household = scoped_get(spec.visible(request.user).select_related("house__building"), request.user, pk=pk)
    members = SPECS["resident"].visible(request.user).filter(household=household)
    return _detail(request, spec, household, related=[_related(SPECS["resident"], members, _("家庭成员"))])


def can_reveal(user, resident: Resident) -> bool:
    """Whether the reveal button is offered: `people.reveal` over the resident's grid (the service checks again)."""
    return scope_for(user, "people.reveal").covers_code(resident.region_code)


def resident_fields(resident: Resident, may_reveal: bool) -> list[dict]:
    """The resident's detail rows. The birth date is digits 7–14 of the ID number, so beside the masked number
    it gives the number away: it is shown only to those who may reveal the number, the others see the age."""
    names = SPECS["resident"].detail_fields
    if may_reveal:
        return field_rows(resident, names, links=DETAIL_LINKS)
    at = names.index("birth_date")
    fields = field_rows(resident, names[:at] + names[at + 1:], links=DETAIL_LINKS)
    age = resident.age()
    fields.insert(at, {"label": _("年龄"), "value": "—" if age is None else age, "url": ""})
    return fields


@page_view("people.view")
def resident_detail(request, pk: int):
    """A resident: masked numbers (the age, not the birth date, unless the reader may reveal them), reveal
    buttons for those allowed, key-group labels for those allowed."""
    spec = SPECS["resident"]
    resident = scoped_get(spec.visible(request.user).select_related("household"), request.user, pk=pk)
    may_reveal = can_reveal(request.user, resident)
    # Key groups take their own capability; visible_to answers nothing (no query) to users without it.
    labels = list(KeyGroupLabel.objects.visible_to(request.user).filter(resident=resident).order_by("group"))
    sensitive = [
        {"field": "id_number", "label": _("身份证号"), "masked": resident.id_number_masked or "—",
         "present": bool(resident.id_number_enc)},
        {"field": "phone", "label": _("电话"), "masked": resident.phone_masked or "—",
         "present": bool(resident.phone_enc)},
    ]
    return _detail(
        request, spec, resident, "people/resident_detail.html", fields=resident_fields(resident, may_reveal),
        sensitive=sensitive, can_reveal=may_reveal, key_groups=labels,
        show_key_groups=scope_for(request.user, "people.key_group").covers_code(resident.region_code),
    )


REVEAL_FIELDS = {"id_number": _("身份证号"), "phone": _("电话")}


@require_POST
@capability_required("people.reveal")
def resident_reveal(request, pk: int):
    """Show one sensitive field in clear through the people service (which checks scope and audits the read)."""
    from civicgrid.foundation.core.errors import CivicgridError

    resident = scoped_get(Resident.objects.all(), request.user, pk=pk)
    field_name = request.POST.get("field", "")
    if field_name not in REVEAL_FIELDS:
        return HttpResponse(_("不支持的字段"), status=400)
    if not can_reveal(request.user, resident):
        raise PermissionDenied
    try:
        from civicgrid.foundation.people.services import reveal
    except ImportError:
        return HttpResponse(_("查看完整号码功能尚未启用"), status=503)
    try:
        value = reveal(actor=request.user, resident=resident, field=field_name)
    except CivicgridError as exc:
        return HttpResponse(one_language(exc.message), status=exc.status)
    template = "people/partials/revealed.html" if request.htmx else "people/revealed_page.html"
    response = render(request, template, {"object": resident, "value": value, "label": REVEAL_FIELDS[field_name]})
    # A clear ID number must not linger in any cache.
    response["Cache-Control"] = "no-store"
    return response


@page_view("people.view")
def unit_detail(request, pk: int):
    """A unit (shop, company, school …)."""
    spec = SPECS["unit"]
    return _detail(request, spec, scoped_get(spec.visible(request.user).select_related("building"), request.user, pk=pk))


@page_view("people.view")
def place_detail(request, pk: int):
    """A place or facility."""
    spec = SPECS["place"]
    return _detail(request, spec, scoped_get(spec.visible(request.user), request.user, pk=pk))


@page_view("people.view")
def people_index(request):
    """The base-data home: one tile per list with its count within scope (one query per list)."""
    tiles = [{"title": s.title, "url": s.list_url, "count": s.model.objects.visible_to(request.user).count()}
             for s in SPECS.values()]
    return render(request, "people/index.html", {"tiles": tiles, "tabs": _tabs("")})


_DETAILS = {
    "building": building_detail,
    "house": house_detail,
    "household": household_detail,
    "resident": resident_detail,
    "unit": unit_detail,
    "place": place_detail,
}

urlpatterns = [path("", people_index, name="people_index")]
for _slug, _spec in SPECS.items():
    urlpatterns += [
        path(f"{_slug}s/", _list_view(_spec), name=f"{_slug}_list"),
        path(f"{_slug}s/<int:pk>/", _DETAILS[_slug], name=f"{_slug}_detail"),
    ]
    data_endpoint(_spec.list_url, _spec.model._meta.label, "list")
    data_endpoint(_spec.detail_url, _spec.model._meta.label, "detail")
urlpatterns.append(path("residents/<int:pk>/reveal/", resident_reveal, name="resident_reveal"))
# POST only; returns one resident's field in clear, after the same scoped fetch as the detail page.
data_endpoint("ui:resident_reveal", "people.Resident", "reveal")
# Counts only, no rows.
non_data_endpoint("ui:people_index")

register(MenuItem("people", gettext_noop("基础数据"), "ui:people_index", "people.view", order=20))
register(MenuItem("residents", gettext_noop("实有人口"), "ui:resident_list", "people.view", order=21))
