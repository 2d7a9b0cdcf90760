"""The case list (事件办理): cases in the user's scope, filtered and paged by 50 with a fixed number of queries.

Filters: status (one, or every open one), category class or subclass, region (street/community), department,
overdue, supervised, and a search by number or title. The read is `cases.selectors.CaseListing`: the rows of
`cases.selectors.case_list`, which starts from `Case.objects.visible_to(user)`, found page by page without
sorting the whole scope.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Status
from civicgrid.apps.cases_documents import ledger
from civicgrid.foundation.access.scope import has_capability

from .cases_shared import STATUS_STYLE, category_classes, dispatch_departments
from .common import clean_code, page_view, paginate, region_choices

# The list shows no map: leave the grids' boundaries (often large) in the database.
ROW_FIELDS = (
    "pk", "number", "title", "status", "is_overdue", "is_supervised", "is_major", "is_self_handled",
    "extension_pending", "reported_at", "deadline", "region_code", "category__name", "grid__name",
    "department__name", "department__short_name", "category", "grid", "department",
)
FLAGS = (("is_overdue", _("超期"), "warn"), ("is_supervised", _("督办"), "warn"), ("is_major", _("重大"), "warn"),
         ("extension_pending", _("延期待批"), ""), ("is_self_handled", _("自行处置"), ""))


def _int(value) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 18 else None


def _flag(value) -> bool | None:
    return {"1": True, "0": False}.get((value or "").strip())


def parse_filters(params) -> tuple[selectors.CaseFilter, dict]:
    """The selector's filter from a query string, and the values to show back in the form. Unknown values
    are dropped rather than refused: a list page answers with what it understood."""
    status = (params.get("status") or "").strip()
    if status != "open" and status not in Status.values:
        status = ""
    shown = {
        "status": status,
        "category": _int(params.get("category")),
        "region": clean_code(params.get("region")),
        "department": _int(params.get("department")),
        "overdue": _flag(params.get("overdue")),
        "supervised": _flag(params.get("supervised")),
        "q": (params.get("q") or "").strip()[:40],
    }
    region = shown["region"] if len(shown["region"]) in (6, 9, 12, 15) else ""
    f = selectors.CaseFilter(status=status or None, category=shown["category"], region=region or None,
                             department=shown["department"], overdue=shown["overdue"],
                             supervised=shown["supervised"], q=shown["q"] or None)
    return f, shown


def flags_of(case) -> list[dict]:
    return [{"label": label, "style": style} for name, label, style in FLAGS if getattr(case, name)]


@page_view("cases.view")
def case_list(request):
    """Cases in scope with the list's filters; each row links to its case."""
    f, shown = parse_filters(request.GET)
    rows = selectors.CaseListing(request.user, f, shape=lambda qs: qs.only(*ROW_FIELDS))
    page_obj = paginate(request, rows)
    rows = [{"case": c, "flags": flags_of(c), "style": STATUS_STYLE.get(c.status, "")} for c in page_obj.object_list]
    return render(request, "cases/list.html", {
        "page_obj": page_obj,
        "rows": rows,
        "f": shown,
        "statuses": Status.choices,
        "classes": category_classes(),
        "departments": dispatch_departments(),
        "region_choices": region_choices(request.user, "cases.view", shown["region"]),
        "can_report": has_capability(request.user, "cases.report"),
        "can_intake": has_capability(request.user, "cases.intake"),
        "ledger_url": _ledger_url(request) if has_capability(request.user, ledger.CAPABILITY) else "",
    })


def _ledger_url(request) -> str:
    """The ledger download with the list's current filters (the ledger reads the same ones)."""
    params = request.GET.copy()
    params.pop("page", None)
    query = params.urlencode()
    return reverse("ui:case_ledger") + (f"?{query}" if query else "")
