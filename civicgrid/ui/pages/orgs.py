"""Organisation pages: a list by kind and a detail page with posts and sub-organisations.

Reads start from `Organisation.objects.visible_to(user, "view")`: a street officer sees the organisations of
their street and those above it (district departments); a department handler sees their own department.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.foundation.orgs.models import Organisation, OrgKind
from civicgrid.ui.navigation import MenuItem, register

from .common import Column, field_rows, page_view, paginate, scoped_get, search, table_rows

COLUMNS = [
    Column(_("名称"), "name", link=True),
    Column(_("类型"), "get_kind_display"),
    Column(_("所属区域"), "region.name"),
    Column(_("办公电话"), "phone"),
]
DETAIL_FIELDS = ("code", "name", "short_name", "kind", "parent", "duties", "phone", "address", "is_active")


def visible_orgs(user):
    """Organisations the user may open, with what their lists show."""
    return Organisation.objects.visible_to(user, "view").select_related("region", "parent")


def _table(objects) -> dict:
    return {
        "rows": table_rows(objects, COLUMNS),
        "headers": [c.label for c in COLUMNS],
        "model_label": "orgs.organisation",
        "detail_url_name": "ui:org_detail",
    }


@page_view("orgs.view")
def org_list(request):
    """Organisations by kind (tabs), searchable by name or code."""
    kind = request.GET.get("kind", "")
    q = request.GET.get("q", "")
    qs = visible_orgs(request.user)
    if kind in OrgKind.values:
        qs = qs.filter(kind=kind)
    else:
        kind = ""
    qs = search(qs, ("name", "short_name", "code"), q)
    page_obj = paginate(request, qs)
    kinds = [{"value": "", "label": _("全部"), "current": not kind}] + [
        {"value": value, "label": label, "current": value == kind} for value, label in OrgKind.choices
    ]
    return render(
        request,
        "orgs/list.html",
        {"page_obj": page_obj, "q": q, "kind": kind, "kinds": kinds, "search_hint": _("名称、简称或代码"),
         **_table(page_obj.object_list)},
    )


@page_view("orgs.view")
def org_detail(request, pk: int):
    """One organisation, its posts (who holds them) and its visible sub-organisations."""
    org = scoped_get(visible_orgs(request.user), request.user, pk=pk)
    # Posts are shown only after the organisation itself passed the scoped fetch; their phones stay encrypted.
    posts = list(org.posts.select_related("user").order_by("-is_lead", "title", "id"))
    children = visible_orgs(request.user).filter(parent=org)
    # The parent is named always, linked only when the user may open it (a department's handler sees the
    # department, not the district government above it).
    parent_visible = org.parent_id is not None and visible_orgs(request.user).filter(pk=org.parent_id).exists()
    return render(
        request,
        "orgs/detail.html",
        {"object": org, "posts": posts, **_table(children),
         "fields": field_rows(org, DETAIL_FIELDS, labels={"parent": _("上级机构")},
                              links={"parent": "ui:org_detail"} if parent_visible else None)},
    )


urlpatterns = [
    path("", org_list, name="org_list"),
    path("<int:pk>/", org_detail, name="org_detail"),
]

data_endpoint("ui:org_list", "orgs.Organisation", "list")
data_endpoint("ui:org_detail", "orgs.Organisation", "detail")

register(MenuItem("orgs", gettext_noop("组织机构"), "ui:org_list", "orgs.view", order=30))
