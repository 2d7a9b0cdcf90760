"""Categories and routing API.

* `GET /taxonomies`, `GET /categories?taxonomy=&kind=&public=&public_feed=&parent=&in_use=&q=`, `GET /categories/{pk}`:
  every staff role reads every category (they are configuration, not region-scoped data); residents and
  volunteers read the active ones open to public reports (`is_public`), whether or not Open311 publishes them
  (`in_public_feed`); anybody else gets 403. Categories are changed on the page 事件分类 or by xlsx import
  (`services.update_category`, which takes both flags). Each category carries its Chinese `name`, its English
  `name_en` (empty when it has none) and `display_name`, the name in the reader's language as the pages show it
  (the English name when the request's language is English — the language cookie the site's switch sets, as
  for `kind_label` and `time_limit_text` — and the category has one; else the Chinese name).
* `GET /routing/resolve?category=&region=`: the department dispatch would be pre-filled with, and why
  (dispatchers within their own regions; managers anywhere).
* `GET /routing/rules?category=&region=&kind=`: the rules, for those who manage them (`categories.manage`).

Reads go through `selectors`, which the scope contract checks too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from django.db.models import Q
from ninja import Query, Router, Schema

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability, scope_for, subtree_q
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.pagination import Limit, Offset, page
from civicgrid.foundation.regions.models import Region

from . import routing, selectors, services
from .models import Category, RoutingRule, in_use_q
from .permissions import MANAGE, ROUTE

router = Router(tags=["categories"])
PREFIX = "/"
MAX_ID = 2**63 - 1


def _text(value: str | None, limit: int) -> str:
    # PostgreSQL text cannot hold NUL: such input matches nothing, and must not become a 500.
    return (value or "").replace("\x00", "").strip()[:limit]


def _require_reader(user) -> None:
    if not selectors.can_view(user):
        raise PermissionDenied("无权查看事件分类 / categories.view required")


def _valid_id(pk: int) -> int:
    if not 0 < pk <= MAX_ID:
        raise NotFound("未找到该对象，或不在您的权限范围内 / not found")
    return pk


class TaxonomyOut(Schema):
    id: int
    code: str
    name: str
    source: str
    is_active: bool
    categories: int  # categories you can see in it


class TaxonomyList(Schema):
    items: list[TaxonomyOut]
    count: int
    total: int


class CategoryOut(Schema):
    id: int
    key: str  # taxonomy:kind:code, unique across taxonomies (Open311 service codes use it)
    taxonomy: str
    code: str
    name: str
    name_en: str  # the English name; empty when it has none
    display_name: str  # the name in the reader's language: name_en in English when set, else name
    kind: str
    kind_label: str
    parent_id: int | None
    parent_code: str | None
    time_limit_amount: float
    time_limit_mode: str
    time_limit_text: str
    acceptance_condition: str
    closure_condition: str
    responsible_body: str
    default_department_id: int | None
    default_department: str | None
    keywords: list[str]
    is_public: bool  # residents and volunteers may report in it
    in_public_feed: bool  # Open311 lists it and publishes its cases (when it is public too)
    is_active: bool
    # Offered for new reports: enabled, of an enabled taxonomy, and under an enabled class (false for a subclass
    # whose class is switched off, whatever its own is_active: 上级已停用)
    in_use: bool

    @staticmethod
    def resolve_taxonomy(obj: Category) -> str:
        return obj.taxonomy.code

    @staticmethod
    def resolve_kind_label(obj: Category) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_parent_code(obj: Category) -> str | None:
        return obj.parent.code if obj.parent_id else None

    @staticmethod
    def resolve_time_limit_amount(obj: Category) -> float:
        return float(obj.time_limit_amount)

    @staticmethod
    def resolve_default_department(obj: Category) -> str | None:
        return obj.default_department.name if obj.default_department_id else None

    @staticmethod
    def resolve_keywords(obj: Category) -> list[str]:
        return [w for w in re.split(r"[,，;；、\s]+", obj.keywords) if w]


class CategoryRef(Schema):
    id: int
    code: str
    name: str
    name_en: str  # the English name; empty when it has none
    display_name: str  # the name in the reader's language (see CategoryOut)


class CategoryDetailOut(CategoryOut):
    children: list[CategoryRef]  # its subclasses you can see
    edited_at: datetime | None  # last changed by an administrator
    updated_at: datetime

    @staticmethod
    def resolve_children(obj: Category) -> list:
        return getattr(obj, "visible_children", [])


class CategoryList(Schema):
    items: list[CategoryOut]
    count: int
    total: int


class CategoryFilter(Schema):
    taxonomy: str | None = None  # taxonomy code
    kind: Literal["component", "matter", "event"] | None = None
    public: bool | None = None
    public_feed: bool | None = None  # in_public_feed
    parent: int | None = None  # a class's id: its subclasses
    top: bool | None = None  # true: classes only; false: subclasses only
    in_use: bool | None = None  # true: those offered for new reports (see CategoryOut.in_use)
    q: str | None = None  # in the name, the English name, code or keywords
    limit: Limit = 100
    offset: Offset = 0


@router.get("/taxonomies", response={200: TaxonomyList, **errors(401, 403, 422)}, url_name="taxonomy_list")
def list_taxonomies(request):
    """The taxonomies side by side, with how many of their categories you can see."""
    _require_reader(request.user)
    visible = selectors.visible_categories(request.user)
    counts: dict[int, int] = {}
    for taxonomy_id in visible.values_list("taxonomy_id", flat=True):
        counts[taxonomy_id] = counts.get(taxonomy_id, 0) + 1
    items = [
        {"id": t.pk, "code": t.code, "name": t.name, "source": t.source, "is_active": t.is_active,
         "categories": counts.get(t.pk, 0)}
        for t in selectors.visible_taxonomies(request.user).order_by("code")
    ]
    return {"items": items, "count": len(items), "total": len(items)}


@router.get("/categories", response={200: CategoryList, **errors(401, 403, 422)}, url_name="category_list")
def list_categories(request, filters: Query[CategoryFilter]):
    """Categories you can see, by taxonomy, kind, public flag, parent class or a search text."""
    _require_reader(request.user)
    qs = selectors.visible_categories(request.user).select_related("taxonomy", "parent", "default_department")
    if filters.taxonomy:
        qs = qs.filter(taxonomy__code=_text(filters.taxonomy, 32))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.public is not None:
        qs = qs.filter(is_public=filters.public)
    if filters.public_feed is not None:
        qs = qs.filter(in_public_feed=filters.public_feed)
    if filters.parent is not None:
        qs = qs.filter(parent_id=filters.parent if 0 < filters.parent <= MAX_ID else 0)
    if filters.top is not None:
        qs = qs.filter(parent__isnull=filters.top)
    if filters.in_use is not None:
        qs = qs.filter(in_use_q()) if filters.in_use else qs.exclude(in_use_q())
    text = _text(filters.q, 50)
    if text:
        qs = qs.filter(Q(name__contains=text) | Q(name_en__icontains=text)
                       | Q(code__startswith=services.normalise_code(text))
                       | Q(keywords__contains=text))
    items, total = page(qs.order_by("taxonomy__code", "kind", "sort", "code"), limit=filters.limit,
                        offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


@router.get("/categories/{pk}", response={200: CategoryDetailOut, **errors(401, 403, 404, 422)},
            url_name="category_detail")
def get_category(request, pk: int):
    """One category with its subclasses (404 when it does not exist or is not open to you)."""
    _require_reader(request.user)
    visible = selectors.visible_categories(request.user)
    category = visible.select_related("taxonomy", "parent", "default_department").filter(pk=_valid_id(pk)).first()
    if category is None:
        raise NotFound("未找到该分类 / not found")
    category.visible_children = list(visible.filter(parent=category).order_by("sort", "code").only("id", "code", "name", "name_en"))
    return category


class ResolveQuery(Schema):
    category: int
    region: str


class RouteOut(Schema):
    category_id: int
    region_code: str
    department: dict | None
    source: Literal["rule", "patron", "default", "none"]
    category_match: str | None
    rule: dict | None
    candidates: list[dict]
    explanation: str


@router.get("/routing/resolve", response={200: RouteOut, **errors(400, 401, 403, 404, 422)}, url_name="routing_resolve")
def resolve(request, params: Query[ResolveQuery]):
    """The department dispatch is pre-filled with for a category in a region, the rule that decided it, and
    the other rules that apply. Dispatchers ask within their regions; managers anywhere."""
    user = request.user
    if not (has_capability(user, ROUTE) or has_capability(user, MANAGE)):
        raise PermissionDenied("无权查询分拨建议 / categories.route required")
    region = _text(params.region, 20)
    routing.region_prefixes(region)  # 400 on a malformed code
    if not has_capability(user, MANAGE) and not scope_for(user, ROUTE).covers_code(region):
        raise NotFound("未找到该区域，或不在您的权限范围内 / not found")
    if not Region.objects.filter(code=region).exists():
        raise NotFound("未找到该区域 / unknown region")
    category = selectors.visible_categories(user).filter(pk=_valid_id(params.category)).first()
    if category is None:
        raise NotFound("未找到该分类 / unknown category")
    route = routing.explain_route(category, region)
    return {"category_id": category.pk, "region_code": region, **route.as_dict()}


class RuleOut(Schema):
    id: int
    kind: str
    category: CategoryRef | None
    taxonomy: str | None
    region_code: str
    department_id: int
    department: str
    priority: int
    is_active: bool
    note: str
    updated_at: datetime

    @staticmethod
    def resolve_taxonomy(obj: RoutingRule) -> str | None:
        return obj.category.taxonomy.code if obj.category_id else None

    @staticmethod
    def resolve_department(obj: RoutingRule) -> str:
        return obj.department.name if obj.department_id else ""


class RuleList(Schema):
    items: list[RuleOut]
    count: int
    total: int


class RuleFilter(Schema):
    category: int | None = None
    region: str | None = None  # rules set on this region's subtree
    kind: Literal["routing", "patron"] | None = None
    limit: Limit = 100
    offset: Offset = 0


@router.get("/routing/rules", response={200: RuleList, **errors(400, 401, 403, 422)}, url_name="routing_rule_list")
def list_rules(request, filters: Query[RuleFilter]):
    """Routing rules (分拨规则 and 包保 rules), for those who manage them."""
    if not has_capability(request.user, MANAGE):
        raise PermissionDenied("无权查看分拨规则 / you may not view the routing rules")
    qs = selectors.visible_rules(request.user).select_related("category__taxonomy", "department")
    if filters.category is not None:
        qs = qs.filter(category_id=filters.category if 0 < filters.category <= MAX_ID else 0)
    if filters.region:
        code = _text(filters.region, 20)
        if not (code.isascii() and code.isdigit()) or len(code) not in routing.REGION_LENGTHS:
            raise ValidationFailed("region 须为区划代码 / region must be a region code", field="region")
        qs = qs.filter(subtree_q("region_code", code))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    items, total = page(qs.order_by("region_code", "id"), limit=filters.limit, offset=filters.offset)
    return {"items": items, "count": len(items), "total": total}


data_endpoint("api:taxonomy_list", "categories.Taxonomy", "list")
data_endpoint("api:category_list", "categories.Category", "list")
data_endpoint("api:category_detail", "categories.Category", "detail")
data_endpoint("api:routing_rule_list", "categories.RoutingRule", "list")
# A computed suggestion: it names a department (district departments are visible to all staff) for a region
# the caller must hold; the rules themselves are read through api:routing_rule_list.
non_data_endpoint("api:routing_resolve")
