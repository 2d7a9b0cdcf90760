"""Helpers shared by the foundation's pages: capability checks, scoped fetches, region filter, paging.

Pages stay thin: they start every read from `Model.objects.visible_to(user, action)` and use these helpers for
the parts every list and detail page repeats. Nothing here decides scope; `access.scope` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from civicgrid.foundation.access.scope import has_capability, scope_for, subtree_q
from civicgrid.foundation.regions.models import Level, Region

PAGE_SIZE = 50
_CODE = re.compile(r"^\d{6,15}$")


def capability_required(capability: str):
    """Signed-in users holding `capability` somewhere; others get 403 (no content)."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not has_capability(request.user, capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def page_view(capability: str):
    """A read-only page: GET only, signed in, holding the capability."""

    def decorate(view):
        return require_safe(capability_required(capability)(view))

    return decorate


def scoped_get(queryset: models.QuerySet, user, action: str = "view", **lookup):
    """One object through the scoped read path; missing and out-of-scope are the same 404."""
    try:
        return queryset.visible_to(user, action).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该对象，或不在您的权限范围内") from None


def clean_code(value: str | None) -> str:
    """A region code from a query string, or '' when it is not one (never trusted into a query otherwise)."""
    value = (value or "").strip()
    return value if _CODE.match(value) else ""


def in_region(queryset: models.QuerySet, field: str, code: str) -> models.QuerySet:
    """Narrow to a region subtree by code prefix (a range, so the index serves it)."""
    return queryset.filter(subtree_q(field, code)) if code else queryset


def search(queryset: models.QuerySet, fields: tuple[str, ...], text: str) -> models.QuerySet:
    """Case-insensitive containment over a few text fields; empty text changes nothing."""
    text = (text or "").strip()[:50]
    if not text or not fields:
        return queryset
    q = models.Q()
    for name in fields:
        q |= models.Q(**{f"{name}__icontains": text})
    return queryset.filter(q)


def paginate(request, queryset: models.QuerySet, per_page: int = PAGE_SIZE):
    """One page (count + slice: two queries whatever the page length); bad page numbers give the nearest page."""
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get("page"))


@dataclass(frozen=True)
class Column:
    """One column of a list table: header (Chinese, translated in the template) and how to get the value."""

    label: Any
    accessor: str  # attribute path ("building.address") or "get_use_display"
    link: bool = False  # link the cell to the row's detail page
    org: bool = False  # the value is an organisation, named by the `org_cell` filter (short, full on hover); blank for none

    def value(self, obj) -> Any:
        value = obj
        for part in self.accessor.split("."):
            if value is None:
                return ""
            value = getattr(value, part)
            if callable(value):
                value = value()
        return "" if value is None else value


def table_rows(objects, columns: list[Column], key: str = "pk") -> list[dict]:
    """Rows ready for the list template: the object, the key its detail URL takes, and its cells."""
    return [
        {
            "obj": obj,
            "key": getattr(obj, key),
            "cells": [{"label": c.label, "value": c.value(obj), "link": c.link, "org": c.org} for c in columns],
        }
        for obj in objects
    ]


def region_choices(user, capability: str, current: str = "") -> list[dict]:
    """Regions to filter a list by: the user's scope roots and what lies under them, grids left out
    (too many for a select; a grid page links to its lists with `?region=` instead). One query."""
    scope = scope_for(user, capability)
    if scope.empty:
        return []
    return with_current(_scope_regions(user, scope), user, current)


def _scope_regions(user, scope) -> list[dict]:
    qs = Region.objects.visible_to(user, "view").only("code", "name", "level").order_by("code")
    if scope.everything:
        qs = qs.exclude(level=Level.GRID)
    else:
        within = models.Q()
        for code in scope.region_codes:
            within |= subtree_q("code", code)
        qs = qs.filter(within).filter(~models.Q(level=Level.GRID) | models.Q(code__in=scope.region_codes))
    # Full-width spaces indent the levels inside a <select>, where markup is not allowed.
    return [{"code": r.code, "name": r.name, "indent": "\u3000" * ((len(r.code) - 6) // 3)} for r in qs]


def with_current(choices: list[dict], user, code: str) -> list[dict]:
    """Add the filtered region (a grid, usually, reached from its page) when the select leaves it out."""
    if not code or any(c["code"] == code for c in choices):
        return choices
    region = Region.objects.visible_to(user, "view").filter(code=code).only("code", "name").first()
    if region is None:
        return choices
    return [*choices, {"code": region.code, "name": region.name, "indent": ""}]


def field_rows(obj, names: tuple[str, ...], *, labels: dict | None = None, links: dict | None = None) -> list[dict]:
    """Label/value pairs for a detail page from model fields: choices shown by label, relations by name.

    `labels` names fields whose model gives no verbose name; `links` maps a relation to the URL name of its
    detail page (reversed from the stored key, so no query is spent on it).
    """
    from django.urls import reverse

    labels, links = labels or {}, links or {}
    rows = []
    for name in names:
        field = obj._meta.get_field(name)
        value = getattr(obj, f"get_{name}_display")() if field.choices else getattr(obj, name)
        if value is True:
            value = _("是")
        elif value is False:
            value = _("否")
        url = ""
        if name in links and field.is_relation and getattr(obj, field.attname) is not None:
            url = reverse(links[name], args=[getattr(obj, field.attname)])
        rows.append({"label": labels.get(name, field.verbose_name), "value": "—" if value in (None, "") else value,
                     "url": url})
    return rows
