"""Regions API: list and detail (fixed contract: GET /api/v1/regions?level=…&limit=N), boundaries as GeoJSON
(one region, the grids of a subtree, an export that the boundary import reads back) and point location
(fixed contract: GET /api/v1/locate?lat=…&lng=…[&crs=wgs84|gcj02|bd09]).

GeoJSON is WGS-84 (RFC 7946), served as `application/geo+json`; every feature's `properties.code` names its
region, and `is_demo_geometry` says whether the boundary is generated demo geometry.
"""

from __future__ import annotations

import json
from typing import Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema

from civicgrid.foundation.core.pagination import Limit, Offset

from ..access.endpoints import data_endpoint, non_data_endpoint
from ..access.scope import get_visible_or_404, subtree_q
from ..audit import verbs
from ..audit.service import record
from ..core.api_errors import errors
from ..core.downloads import file_response
from ..core.errors import ValidationFailed
from ..core.pagination import page
from . import selectors
from .models import Region

router = Router(tags=["regions"])


class RegionOut(Schema):
    code: str
    name: str
    level: str
    parent_code: str | None
    grid_kind: str
    is_demo_geometry: bool
    centroid: list[float] | None
    bbox: list[float] | None

    @staticmethod
    def resolve_parent_code(obj: Region) -> str | None:
        return obj.parent.code if obj.parent_id else None

    @staticmethod
    def resolve_centroid(obj: Region):
        return [obj.centroid_lng, obj.centroid_lat] if obj.centroid_lng is not None else None

    @staticmethod
    def resolve_bbox(obj: Region):
        return obj.bbox


class RegionList(Schema):
    items: list[RegionOut]
    count: int  # items in this page
    total: int  # items matching the filters in your scope


class RegionFilter(Schema):
    level: Literal["district", "street", "community", "village", "grid"] | None = None
    parent: str | None = None
    q: str | None = None
    limit: Limit = 100
    offset: Offset = 0


@router.get("/regions", response={200: RegionList, **errors(401, 422)}, url_name="region_list")
def list_regions(request, filters: Query[RegionFilter]):
    """Regions within your scope, filtered by level, parent code or a name fragment."""
    qs = Region.objects.visible_to(request.user).select_related("parent").defer("geometry").order_by("code")
    if filters.level:
        qs = qs.filter(level=filters.level)
    if filters.parent:
        qs = qs.filter(parent__code=_text(filters.parent)[:15])
    if filters.q:
        qs = qs.filter(name__contains=_text(filters.q)[:32])
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL: such input matches nothing, and must not become a 500.
    return value.replace("\x00", "").strip()


# --- GeoJSON ---------------------------------------------------------------------------------------------

GEOJSON_TYPE = "application/geo+json; charset=utf-8"
GEOJSON_FIELDS = ("code", "name", "level", "parent__code", "grid_kind", "is_demo_geometry", "geometry_source",
                  "geometry")


def _code_param(value: str | None, field: str) -> str | None:
    if value in (None, ""):
        return None
    value = value.strip()
    if not value.isdigit() or len(value) not in (6, 9, 12, 15):
        raise ValidationFailed(f"{field} 须为 6/9/12/15 位区划代码 / {field} must be a region code", field=field)
    return value


def _feature(row: dict) -> dict:
    return {
        "type": "Feature",
        "id": row["code"],
        "geometry": row["geometry"],
        "properties": {
            "code": row["code"],
            "name": row["name"],
            "level": row["level"],
            "parent_code": row["parent__code"],
            "kind": row["grid_kind"] or None,
            "is_demo_geometry": row["is_demo_geometry"],
            "geometry_source": row["geometry_source"],
        },
    }


def _geojson_response(body: dict, filename: str | None = None) -> HttpResponse:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if filename:
        return file_response(payload, filename, GEOJSON_TYPE)
    return HttpResponse(payload, content_type=GEOJSON_TYPE)


def _collection(qs) -> dict:
    rows = qs.filter(geometry__isnull=False).order_by("code").values(*GEOJSON_FIELDS)
    return {"type": "FeatureCollection", "features": [_feature(r) for r in rows if r["geometry"]]}


class GridsFilter(Schema):
    parent: str | None = None  # a region code: the grids of its subtree


@router.get("/grids.geojson", url_name="grids_geojson", response={200: None, **errors(400, 401, 422)})
def grids_geojson(request, filters: Query[GridsFilter]):
    """The grids in your scope (optionally under one region) as a GeoJSON FeatureCollection (WGS-84)."""
    parent = _code_param(filters.parent, "parent")
    qs = Region.objects.visible_to(request.user).filter(level="grid")
    if parent:
        qs = qs.filter(subtree_q("code", parent))
    return _geojson_response(_collection(qs))


class ExportFilter(Schema):
    level: Literal["district", "street", "community", "village", "grid"] | None = None
    parent: str | None = None  # a region code: its subtree (the region itself included)


@router.get("/regions/export.geojson", url_name="region_export", response={200: None, **errors(400, 401, 422)})
def export_regions(request, filters: Query[ExportFilter]):
    """Boundaries in your scope as a FeatureCollection keyed by `properties.code`: the boundary import reads it."""
    parent = _code_param(filters.parent, "parent")
    qs = Region.objects.visible_to(request.user)
    if filters.level:
        qs = qs.filter(level=filters.level)
    if parent:
        qs = qs.filter(subtree_q("code", parent))
    body = _collection(qs)
    record(actor=request.user, action=verbs.Data.EXPORTED, target_type="regions.region",
           region_code=parent or "", target_repr="区域边界 GeoJSON",
           data={"level": filters.level, "parent": parent, "features": len(body["features"])})
    name = "-".join(x for x in ("regions", parent, filters.level) if x) + ".geojson"
    return _geojson_response(body, filename=name)


@router.get("/regions/{code}/geojson", url_name="region_feature", response={200: None, **errors(401, 404, 422)})
def region_feature(request, code: str):
    """One region in your scope as a GeoJSON Feature (404 outside scope; `geometry` null when not loaded)."""
    qs = Region.objects.select_related("parent")
    region = get_visible_or_404(qs, request.user, code=_text(code)[:15])
    row = {
        "code": region.code, "name": region.name, "level": region.level,
        "parent__code": region.parent.code if region.parent_id else None, "grid_kind": region.grid_kind,
        "is_demo_geometry": region.is_demo_geometry, "geometry_source": region.geometry_source,
        "geometry": region.geometry,
    }
    feature = _feature(row)
    feature["bbox"] = region.bbox
    return _geojson_response(feature)


class RegionSummaryOut(Schema):
    code: str
    name: str
    level: str
    grids: int  # the grids in it you may see
    households: int | None  # those you may see; null: your roles do not see base data
    residents: int | None
    grid_workers: list[str]  # display names; filled for a grid only


@router.get("/regions/{code}/summary", response={200: RegionSummaryOut, **errors(401, 404, 422)},
            url_name="region_summary")
def region_summary(request, code: str):
    """Grids, households and residents in a region's subtree, counting only those you may see (households and
    residents are null without access to base data); for a grid also its responsible grid workers."""
    region = get_visible_or_404(Region.objects.defer("geometry"), request.user, code=_text(code)[:15])
    summary = selectors.region_summary(region, request.user)
    return {"code": region.code, "name": region.name, "level": region.level, **summary.__dict__}


@router.get("/regions/{code}", response={200: RegionOut, **errors(401, 404, 422)}, url_name="region_detail")
def get_region(request, code: str):
    """One region within your scope (404 outside it)."""
    return get_visible_or_404(Region.objects.select_related("parent").defer("geometry"), request.user,
                              code=_text(code)[:15])


# --- where is this point? -----------------------------------------------------------------------------------


class LocateQuery(Schema):
    lat: float = Field(..., ge=-90, le=90, allow_inf_nan=False, description="纬度 latitude")
    lng: float = Field(..., ge=-180, le=180, allow_inf_nan=False, description="经度 longitude")
    crs: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="坐标系: wgs84 (GPS), gcj02 (高德/腾讯), bd09 (百度)")


class RegionRefOut(Schema):
    code: str
    name: str
    level: str


class LocateOut(Schema):
    grid: RegionRefOut | None
    community: RegionRefOut | None
    street: RegionRefOut | None
    district: RegionRefOut | None
    crs_in: str
    wgs84: list[float]  # [lng, lat] after conversion


@router.get("/locate", response={200: LocateOut, **errors(401, 404, 422)}, url_name="locate")
def locate(request, query: Query[LocateQuery]):
    """The grid, community/village, street and district covering a point.

    A point on an edge shared by grids goes to the grid with the smallest code. A point outside the district
    answers 404 `{"detail": "该位置不在本区范围内…", "code": "outside_district"}`; malformed or out-of-range
    coordinates answer 422.
    """
    found = selectors.locate(query.lng, query.lat, query.crs)
    return {
        "grid": found.grid.as_dict() if found.grid else None,
        "community": found.community.as_dict() if found.community else None,
        "street": found.street.as_dict() if found.street else None,
        "district": found.district.as_dict() if found.district else None,
        "crs_in": found.crs_in,
        "wgs84": [round(found.lng, 7), round(found.lat, 7)],
    }


# Region names and codes are the public administrative directory, not business data; locate returns no rows.
non_data_endpoint("api:locate")
data_endpoint("api:grids_geojson", "regions.Region", "geojson")
data_endpoint("api:region_export", "regions.Region", "export")
data_endpoint("api:region_feature", "regions.Region", "detail", lookup="code", lookup_field="code")
data_endpoint("api:region_summary", "regions.Region", "detail", lookup="code", lookup_field="code")
