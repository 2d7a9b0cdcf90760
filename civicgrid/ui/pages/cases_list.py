"""The case list (事件办理): cases in the user's scope, filtered and paged by 50 with a fixed number of queries.

Filters: status (one, or every open one), category class or subclass, region (street/community), department,
overdue, supervised, a search by number or title, and a work lane (`?work=verify`: the cases waiting for a step
the user takes, as the home page's 我的待办 counts them). The read is `cases.selectors.CaseListing`: the rows of
`cases.selectors.case_list`, which starts from `Case.objects.visible_to(user)`, found page by page without
sorting the whole scope.

The page counts at most COUNT_CAP + 1 rows (an exact total of a district's million cases took 0.4-0.5 s on
every view): past the cap it shows "共 10,000+ 条", and its pages go on without an end (第 n 页, previous,
next while a row follows) instead of 第 n / m 页. `GET /api/v1/cases` keeps its exact `total`.
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Status
from civicgrid.apps.cases_documents import ledger
from civicgrid.foundation.access.scope import has_capability

from .cases_shared import STATUS_STYLE, category_classes, dispatch_departments
from .common import PAGE_SIZE, clean_code, page_view, region_choices

# The list shows no map: leave the grids' boundaries (often large) in the database.
ROW_FIELDS = (
    "pk", "number", "title", "status", "is_overdue", "is_supervised", "is_major", "is_self_handled",
    "extension_pending", "reported_at", "deadline", "region_code", "category__name", "grid__name",
    "department__name", "department__short_name", "category", "grid", "department",
)
# The page counts up to this many cases; a longer list shows "10,000+".
COUNT_CAP = 10_000
# Past the end of a list longer than the cap: a page number this deep is not read but taken as past the end.
MAX_PAGE = 1_000_000
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
        "work": lane.key if (lane := selectors.LANES.get((params.get("work") or "").strip())) else "",
        "work_label": lane.label if lane else "",
    }
    # The filters folded behind 「更多筛选」 that are set (overdue/supervised "no" narrows too); a lane with none
    # of them and no search is clear when its list is empty, and the page says so.
    shown["folded_active"] = bool(shown["status"] or shown["category"] or shown["region"] or shown["department"]
                                  or shown["overdue"] is not None or shown["supervised"] is not None)
    shown["lane_only"] = bool(shown["work"]) and not shown["folded_active"] and not shown["q"]
    region = shown["region"] if len(shown["region"]) in (6, 9, 12, 15) else ""
    f = selectors.CaseFilter(status=status or None, category=shown["category"], region=region or None,
                             department=shown["department"], overdue=shown["overdue"],
                             supervised=shown["supervised"], q=shown["q"] or None, work=shown["work"] or None)
    return f, shown


def flags_of(case) -> list[dict]:
    return [{"label": label, "style": style} for name, label, style in FLAGS if getattr(case, name)]


class CappedPage(Page):
    """A page of a list longer than the cap: whether a next page exists is known from the page's own read."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self):
        return self.more

    def end_index(self):
        return self.start_index() + len(self.object_list) - 1


class CappedPaginator(Paginator):
    """Django's Paginator over a `CaseListing` that counts at most `cap` + 1 rows (`capped_count`).

    Up to the cap it is Django's, exact. Past it (`capped`) the pages are open-ended: any page number is read,
    one row more than a page tells whether a next page follows, and a page past the last row (a stale or
    typed link) costs the exact count once, to show the last page as the plain paginator would."""

    def __init__(self, listing, per_page: int, cap: int):
        super().__init__(listing, per_page)
        self.cap = cap
        self.exact = False  # set when a page past the end made us count everything

    @cached_property
    def count(self) -> int:
        return self.object_list.capped_count(self.cap)

    @property
    def capped(self) -> bool:
        return not self.exact and self.count > self.cap

    @property
    def cap_label(self) -> str:
        return f"{self.cap:,}"

    def validate_number(self, number):
        if not self.capped:
            return super().validate_number(number)
        return self._validate_number(number, MAX_PAGE)

    def page(self, number):
        number = self.validate_number(number)
        if not self.capped:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            self._count_exactly()
            raise EmptyPage(self.error_messages["no_results"])
        return CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)

    def get_page(self, number):
        """The page, or for a bad number the first (not a number) or the last page, as Django's does."""
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            if self.capped:
                self._count_exactly()
            number = self.num_pages
        try:
            return self.page(number)
        except EmptyPage:  # past the last row of a long list, now counted exactly
            return self.page(self.num_pages)

    def _count_exactly(self) -> None:
        self.exact = True
        self.__dict__["count"] = self.object_list.count()
        self.__dict__.pop("num_pages", None)


@page_view(selectors.CASE_FILE_CAPABILITY)
def case_list(request):
    """Cases in scope with the list's filters; each row links to its case."""
    f, shown = parse_filters(request.GET)
    rows = selectors.CaseListing(request.user, f, shape=lambda qs: qs.only(*ROW_FIELDS))
    page_obj = CappedPaginator(rows, PAGE_SIZE, COUNT_CAP).get_page(request.GET.get("page"))
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
