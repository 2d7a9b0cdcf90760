"""What the public may report: GeoReport v2 services from the categories open to public reports and published
to the feed (`Category.in_public_feed`; the others are reported on the web, phone and API only).

A service is an active public category that cases are filed under: a subclass (its class is the service's
`group`), or a class without subclasses. Its `service_code` is the category's stable key across taxonomies
(`gbt47678_5_2026:matter:06010`). Attributes (questions such as 是否影响通行) are Open311's own rows, set on a
category, on its class (then every subclass asks them) or on no category (every service asks them).
"""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal, InvalidOperation

from django.db.models import Max, Q

from civicgrid.apps.categories.models import Category, in_use_q
from civicgrid.foundation.core.bilingual import quotable

from . import conf
from .formats import Open311Error, parse_w3c
from .models import Datatype, ServiceAttribute

_KEYWORD_SPLIT = re.compile(r"[;；,，、\s]+")
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,32}:[a-z]{1,16}:[^:/\x00]{1,16}$")


def _reportable() -> Q:
    return Q(is_public=True) & in_use_q()  # a subclass of a class switched off is neither listed nor accepted


def _public() -> Q:
    """Open to public reports and published to the feed (`in_public_feed`): what Open311 lists and accepts."""
    return _reportable() & Q(in_public_feed=True)


def service_categories():
    """Every category offered as a service, in taxonomy and code order, with its class and taxonomy joined.
    A class whose subclasses are kept out of the feed is not offered in their place."""
    parents_with_children = Category.objects.filter(_reportable(), parent__isnull=False).values("parent_id")
    return (
        Category.objects.filter(_public())
        .filter(Q(parent__isnull=False) | ~Q(pk__in=parents_with_children))
        .select_related("taxonomy", "parent")
        .order_by("taxonomy__code", "sort", "code", "kind")
    )


_cache: dict[str, tuple[float, Category, list]] = {}
_cache_lock = threading.Lock()


def checked_service(code: str) -> tuple[Category, list[ServiceAttribute]]:
    """A service and its attributes for checking a report, reused for `conf.catalogue_cache_seconds()`: every
    report reads them, and they change rarely (an edit reaches reports within that time)."""
    ttl = conf.catalogue_cache_seconds()
    now = time.monotonic()
    hit = _cache.get(code) if ttl > 0 else None
    if hit and hit[0] > now:
        return hit[1], hit[2]
    category = find_service(code)
    attributes = attributes_for(category)
    if ttl > 0:
        with _cache_lock:
            if len(_cache) > 2000:
                _cache.clear()  # codes are few; a flood of odd ones must not grow the process
            _cache[code] = (now + ttl, category, attributes)
    return category, attributes


def find_service(code: str) -> Category:
    """The public category behind a `service_code`; 404 in the spec's format when there is none."""
    code = str(code or "").strip()
    if not code:
        raise Open311Error(400, "缺少 service_code / service_code was not provided")
    if not _CODE.match(code):
        raise Open311Error(404, f"未找到服务「{quotable(code, 60)}」 / service_code not found: \"{quotable(code, 60)}\"")
    taxonomy, kind, local = code.split(":", 2)
    found = service_categories().filter(taxonomy__code=taxonomy, kind=kind, code=local).first()
    if found is None:
        raise Open311Error(404, f"未找到服务「{quotable(code, 60)}」 / service_code not found: \"{quotable(code, 60)}\"")
    return found


def attributes_for(category: Category) -> list[ServiceAttribute]:
    """The active attributes a service asks, its own before its class's before the global ones, by order."""
    ids = [category.pk] + ([category.parent_id] if category.parent_id else [])
    rows = list(ServiceAttribute.objects.filter(Q(category_id__in=ids) | Q(category__isnull=True), is_active=True))
    rank = {category.pk: 0, category.parent_id: 1, None: 2}
    seen, result = set(), []
    for row in sorted(rows, key=lambda r: (rank.get(r.category_id, 3), r.order, r.pk)):
        if row.code not in seen:  # a subclass's own question replaces its class's question of the same code
            seen.add(row.code)
            result.append(row)
    return sorted(result, key=lambda r: (r.order, r.pk))


def _with_attributes() -> set[int | None]:
    """The category ids that carry attributes (None: some attribute applies to every service)."""
    return set(ServiceAttribute.objects.filter(is_active=True).values_list("category_id", flat=True).distinct())


def keywords(category: Category) -> str:
    """The category's keywords as GeoReport's comma-separated list (the dictionary separates them with ;)."""
    words = [w for w in _KEYWORD_SPLIT.split(category.keywords or "") if w]
    return ",".join(dict.fromkeys(words))


def _description(category: Category) -> str:
    condition = category.acceptance_condition or (category.parent.acceptance_condition if category.parent else "")
    return f"{condition}（处置时限 {category.time_limit_text}）" if condition else f"处置时限 {category.time_limit_text}"


def service_list(*, english: bool = False) -> list[dict]:
    """GET services: every public service with its group, keywords and whether it has attributes. `english`
    (asked by `locale=en`): service and group named by their English names where they have one (the Chinese
    otherwise, and the description as it is)."""

    def named(category: Category) -> str:
        return (category.name_en if english else "") or category.name

    carriers = _with_attributes()
    every = None in carriers
    items = []
    for c in service_categories():
        items.append({
            "service_code": c.key,
            "service_name": named(c),
            "description": _description(c),
            "metadata": every or c.pk in carriers or (c.parent_id in carriers),
            "type": "realtime",
            "keywords": keywords(c),
            "group": named(c.parent) if c.parent_id else c.taxonomy.name,
        })
    return items


def changeset():
    """When the public catalogue last changed (discovery's `changeset`): any category's last change, since one
    leaving the catalogue (closed to reports or kept out of the feed) changes it as much as one joining it."""
    return Category.objects.aggregate(at=Max("updated_at"))["at"]


def definition(category: Category) -> dict:
    """GET services/{code}: the service's attributes in the spec's shape."""
    return {
        "service_code": category.key,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": a.order,
                "description": a.description,
                "values": [{"key": str(v.get("key", "")), "name": str(v.get("name", ""))} for v in a.values or []
                           if isinstance(v, dict)],
            }
            for a in attributes_for(category)
        ],
    }


def clean_attributes(category: Category, given: dict[str, list[str]], attributes=None) -> dict:
    """The answers to the service's questions, checked against their datatypes; 400 naming the first wrong one.

    `given` maps an attribute code to the values sent (`attribute[code]`, or `attribute[code][]` repeated for a
    multivaluelist). Codes the service does not ask are ignored, as clients send their own extras.
    """
    result: dict = {}
    for attr in attributes_for(category) if attributes is None else attributes:
        if not attr.variable:
            continue
        values = [v.strip() for v in given.get(attr.code, []) if v is not None and v.strip() != ""]
        if not values:
            if attr.required:
                raise Open311Error(400, f"缺少必填属性 attribute[{attr.code}]（{attr.description}） / required "
                                        f"attribute {attr.code} was not provided")
            continue
        result[attr.code] = _clean_value(attr, values)
    return result


def _bad(attr: ServiceAttribute, why: str, why_en: str) -> Open311Error:
    """The 400 for a wrong answer to `attr`, saying why in both halves (a client reading the English one learns
    what to send as well as one reading the Chinese)."""
    return Open311Error(400, f"属性 attribute[{attr.code}] 无效：{why} / attribute {attr.code} is not valid: {why_en}")


def _keys(attr: ServiceAttribute) -> str:
    """The keys an attribute offers, as the refusal of another names them (the first few)."""
    keys = list(attr.keys)
    return ", ".join(keys[:10]) + (", …" if len(keys) > 10 else "")


def _clean_value(attr: ServiceAttribute, values: list[str]):
    if attr.datatype == Datatype.MULTI:
        unknown = [v for v in values if v not in attr.keys]
        if unknown:
            shown = quotable(unknown[0], 30)
            raise _bad(attr, f"不在可选值中（{shown}）", f"\"{shown}\" is not one of its keys ({_keys(attr)})")
        return list(dict.fromkeys(values))
    if len(values) > 1:
        raise _bad(attr, "只能有一个值", "it takes one value")
    value = values[0]
    if attr.datatype == Datatype.SINGLE:
        if value not in attr.keys:
            shown = quotable(value, 30)
            raise _bad(attr, f"不在可选值中（{shown}）", f"\"{shown}\" is not one of its keys ({_keys(attr)})")
        return value
    if attr.datatype == Datatype.NUMBER:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _bad(attr, "须为数字", "it must be a number") from None
        if not number.is_finite() or abs(number) > Decimal("1e15"):
            raise _bad(attr, "须为有限的数字", "it must be a finite number")
        return value
    if attr.datatype == Datatype.DATETIME:
        try:
            return parse_w3c(value, f"attribute[{attr.code}]").isoformat()
        except Open311Error:
            raise _bad(attr, "须为 W3C 日期时间", "it must be a W3C datetime") from None
    if len(value) > conf.MAX_ATTRIBUTE_TEXT:
        raise _bad(attr, f"不能超过 {conf.MAX_ATTRIBUTE_TEXT} 个字符",
                   f"it is longer than {conf.MAX_ATTRIBUTE_TEXT} characters")
    return value
