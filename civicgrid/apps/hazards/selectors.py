"""Reads of hazards, always from the scoped queryset (`Hazard.objects.visible_to(user, action)`).

    hazard_list(user, kind="flood", street="140213050")   # a queryset ordered by code
    hazard_detail(user, pk)                               # one hazard with its ledger line, plans, timeline, photos
    street_summary(user, kind="flood")                    # per street: counts by status and grade

Pages, the API and the xlsx exports read through these, so they all see the same rows.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

from django.db.models import Count, Prefetch, Q

from civicgrid.foundation.access.scope import get_visible_or_404, subtree_q
from civicgrid.foundation.core.errors import NotFound, ValidationFailed
from civicgrid.foundation.regions.models import Level, Region

from .models import (
    CATEGORY_LABELS,
    OPEN_STATUSES,
    Grade,
    Hazard,
    HazardPhoto,
    HazardPlan,
    HazardStep,
    Kind,
    PatronAssignment,
    PatronKind,
    Status,
)

LIST_RELATED = ("grid", "patron_department", "responsible_department", "supervising_street", "rectification",
                "campaign")
_TRUE = {"1", "true", "yes", "on", "是"}
_FALSE = {"0", "false", "no", "off", "否"}


def _flag(value, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationFailed(f"{field} 须为 true 或 false / {field} must be true or false", field=field)


def _choice(value, allowed, field: str, label: str) -> list[str] | None:
    """One value or several (separated by commas, or repeated: a list), any of them; "open" stands for the open
    statuses."""
    if value is None or value == "" or value == () or value == []:
        return None
    given = value if isinstance(value, (list, tuple)) else [value]
    wanted = {v.strip() for one in given for v in str(one).split(",") if v.strip()}
    if field == "status" and "open" in wanted:
        wanted = (wanted - {"open"}) | {str(s) for s in OPEN_STATUSES}
    unknown = wanted - set(allowed)
    if unknown or not wanted:
        names = "、".join(sorted(allowed))
        raise ValidationFailed(f"{label}无效：{', '.join(sorted(unknown))[:60]}，可选：{names} / unknown {field}",
                               field=field)
    return sorted(wanted)


def _region_code(value, field: str = "street") -> str | None:
    if value is None or value == "":
        return None
    code = unicodedata.normalize("NFKC", str(value)).strip()  # full-width digits as typed in Chinese
    if not (code.isascii() and code.isdigit()) or len(code) not in (6, 9, 12, 15):
        raise ValidationFailed(f"{field} 须为 6/9/12/15 位区划代码 / {field} must be a region code", field=field)
    return code


def hazard_list(user, *, kind=None, street=None, status=None, grade=None, category=None, supervised=None,
                overdue=None, q=None, action: str = "view"):
    """The hazards the user may see (for `action`), filtered, ordered by code, with what list rows show joined in.

    `street` takes any region code (district, street, community or grid) and keeps that subtree. Invalid filter
    values raise ValidationFailed naming the filter."""
    kinds = _choice(kind, Kind.values, "kind", "隐患类型")
    statuses = _choice(status, Status.values, "status", "状态")
    grades = _choice(grade, Grade.values, "grade", "等级")
    categories = _choice(category, CATEGORY_LABELS.keys(), "category", "隐患类别")
    supervised = _flag(supervised, "supervised")
    overdue = _flag(overdue, "overdue")
    code = _region_code(street)
    # rows name their grid; its boundary (a large JSON column) stays in the database
    qs = Hazard.objects.visible_to(user, action).select_related(*LIST_RELATED).defer("grid__geometry")
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if code:
        qs = qs.filter(street_code=code) if len(code) == 9 else qs.filter(subtree_q("region_code", code))
    if statuses:
        qs = qs.filter(status__in=statuses)
    if grades:
        qs = qs.filter(grade__in=grades)
    if categories:
        qs = qs.filter(category__in=categories)
    if supervised is not None:
        qs = qs.filter(is_supervised=supervised)
    if overdue is not None:
        qs = qs.filter(is_overdue=overdue)
    if q:
        text = str(q).replace("\x00", "").strip()[:40]
        if text:
            qs = qs.filter(Q(code=text) | Q(name__contains=text) | Q(address__contains=text)
                           | Q(owner_unit__contains=text))
    return qs.order_by("code")


def _detail_queryset():
    return Hazard.objects.select_related(*LIST_RELATED, "registered_by").prefetch_related(
        Prefetch("plans", queryset=HazardPlan.objects.order_by("kind", "-created_at", "-id")),
        Prefetch("steps", queryset=HazardStep.objects.order_by("at", "id").prefetch_related(
            Prefetch("photos", queryset=HazardPhoto.objects.order_by("id")))),
        Prefetch("photos", queryset=HazardPhoto.objects.order_by("id")),
    )


def hazard_detail(user, pk):
    """One hazard in the user's scope with its ledger line, plans, timeline and photos; NotFound otherwise."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound("未找到该隐患，或不在您的权限范围内 / hazard not found") from None
    try:
        return get_visible_or_404(_detail_queryset(), user, pk=pk)
    except NotFound:
        raise NotFound("未找到该隐患，或不在您的权限范围内 / hazard not found") from None


def hazard_after_action(user, hazard: Hazard) -> Hazard:
    """The hazard as the actor left it (in scope as a rule; the plain row when their action moved it out)."""
    found = _detail_queryset().visible_to(user).filter(pk=hazard.pk).first()
    return found or _detail_queryset().get(pk=hazard.pk)


def street_summary(user, kind=None) -> list[dict]:
    """Per street of the hazards the user may see: totals by status and grade, supervised, overdue, open.

    Each row: {"street_code", "street_name", "patron_department", "patron_department_id", "total", "open",
    "by_status": {status: n}, "by_grade": {grade: n}, "supervised", "overdue"}; ordered by street code. Three
    queries whatever the size."""
    kinds = _choice(kind, Kind.values, "kind", "隐患类型")
    qs = Hazard.objects.visible_to(user, "view")
    if kinds:
        qs = qs.filter(kind__in=kinds)
    rows = (qs.order_by().values("street_code", "status", "grade")
            .annotate(n=Count("id"), sup=Count("id", filter=Q(is_supervised=True)),
                      late=Count("id", filter=Q(is_overdue=True))))
    streets: dict[str, dict] = {}
    for r in rows:
        s = streets.setdefault(r["street_code"], {
            "street_code": r["street_code"], "total": 0, "open": 0, "supervised": 0, "overdue": 0,
            "by_status": {v: 0 for v in Status.values}, "by_grade": {v: 0 for v in Grade.values}})
        s["total"] += r["n"]
        s["by_status"][r["status"]] = s["by_status"].get(r["status"], 0) + r["n"]
        s["by_grade"][r["grade"]] = s["by_grade"].get(r["grade"], 0) + r["n"]
        s["supervised"] += r["sup"]
        s["overdue"] += r["late"]
        if r["status"] in OPEN_STATUSES:
            s["open"] += r["n"]
    codes = sorted(streets)
    names = dict(Region.objects.filter(code__in=codes, level=Level.STREET).values_list("code", "name"))
    wanted = PatronKind.SAFETY if kinds == [Kind.SAFETY] else PatronKind.FLOOD
    patrons: dict[str, dict] = defaultdict(dict)
    for a in PatronAssignment.objects.filter(street_code__in=codes).select_related("department"):
        patrons[a.street_code][a.kind] = a.department
    result = []
    for code in codes:
        dept = patrons[code].get(wanted) or next(iter(patrons[code].values()), None)
        result.append({**streets[code], "street_name": names.get(code, code),
                       "patron_department": dept.name if dept else "",
                       "patron_department_id": dept.pk if dept else None})
    return result
