"""Organisations API: `GET /api/v1/organisations` (kind, region subtree, name) and `/organisations/{pk}`.

Reads go through `Organisation.objects.visible_to(user)`: a street officer sees the organisations of their
street and the district ones above it, a department handler their own department. Posts list their titles and
holders' names only; post phones stay encrypted and never leave through this API.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

from ninja import Query, Router, Schema

from civicgrid.foundation.core.pagination import Limit, Offset

from ..access.endpoints import data_endpoint
from ..access.scope import get_visible_or_404, subtree_q
from ..core.api_errors import errors
from ..core.errors import NotFound, ValidationFailed
from ..core.pagination import page
from .models import Organisation, OrgKind

router = Router(tags=["organisations"])
PREFIX = "/"

KindName = Literal[tuple(OrgKind.values)]  # type: ignore[valid-type]


class OrgOut(Schema):
    id: int
    code: str
    name: str
    short_name: str
    kind: str
    kind_label: str
    region_code: str
    region_name: str
    parent_id: int | None
    is_active: bool

    @staticmethod
    def resolve_kind_label(obj: Organisation) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_region_name(obj: Organisation) -> str:
        return obj.region.name


class PostOut(Schema):
    id: int
    title: str
    holder: str | None
    is_lead: bool

    @staticmethod
    def resolve_holder(obj) -> str | None:
        return obj.user.label if obj.user_id else None


class OrgDetailOut(OrgOut):
    duties: str
    phone: str
    address: str
    posts: list[PostOut]

    @staticmethod
    def resolve_posts(obj: Organisation):
        return list(obj.posts.select_related("user").order_by("-is_lead", "title", "id"))


class OrgList(Schema):
    items: list[OrgOut]
    count: int  # items in this page
    total: int  # items matching the filters in your scope


class OrgFilter(Schema):
    kind: KindName | None = None
    region: str | None = None  # a region code: organisations anchored in its subtree
    q: str | None = None
    limit: Limit = 100
    offset: Offset = 0


@router.get("/organisations", response={200: OrgList, **errors(400, 401, 422)}, url_name="org_list")
def list_organisations(request, filters: Query[OrgFilter]):
    """Organisations within your scope, by kind, region subtree or a name fragment."""
    qs = Organisation.objects.visible_to(request.user).select_related("region").order_by("kind", "code")
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.region:
        code = unicodedata.normalize("NFKC", filters.region).strip()  # full-width digits as typed in Chinese
        if not (code.isascii() and code.isdigit()) or len(code) not in (6, 9, 12, 15):
            raise ValidationFailed("region 须为区划代码 / region must be a region code", field="region")
        qs = qs.filter(subtree_q("region_code", code))
    if filters.q:
        qs = qs.filter(name__contains=filters.q.replace("\x00", "").strip()[:32])  # PostgreSQL refuses NUL
    items, total = page(qs, limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.get("/organisations/{pk}", response={200: OrgDetailOut, **errors(401, 404, 422)}, url_name="org_detail")
def get_organisation(request, pk: int):
    """One organisation within your scope with its posts (404 outside it)."""
    if not 0 < pk < 2**63:
        raise NotFound("未找到该对象，或不在您的权限范围内 / not found")
    return get_visible_or_404(Organisation.objects.select_related("region"), request.user, pk=pk)


data_endpoint("api:org_list", "orgs.Organisation", "list")
data_endpoint("api:org_detail", "orgs.Organisation", "detail")
