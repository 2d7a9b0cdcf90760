"""Regions API: list and detail (fixed contract: GET /api/v1/regions?level=…&limit=N)."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router, Schema

from ..access.scope import get_visible_or_404
from ..core.pagination import page
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
    limit: int = 100
    offset: int = 0


@router.get("/regions", response=RegionList, url_name="region_list")
def list_regions(request, filters: Query[RegionFilter]):
    """Regions within your scope, filtered by level, parent code or a name fragment."""
    qs = Region.objects.visible_to(request.user).select_related("parent").defer("geometry").order_by("code")
    if filters.level:
        qs = qs.filter(level=filters.level)
    if filters.parent:
        qs = qs.filter(parent__code=filters.parent)
    if filters.q:
        qs = qs.filter(name__contains=filters.q.strip()[:32])
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.get("/regions/{code}", response=RegionOut, url_name="region_detail")
def get_region(request, code: str):
    """One region within your scope (404 outside it)."""
    return get_visible_or_404(Region.objects.select_related("parent").defer("geometry"), request.user, code=code[:15])
