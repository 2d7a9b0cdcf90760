"""The case list (事件办理): cases in the user's scope, filtered and paged by 50 with a fixed number of queries.

Filters: status (one, or every open one), category class or subclass, region (street/community), department,
overdue, 即将超期 (`?due_soon=1`: a step past its clock's warning time, not yet overdue), supervised, a search by number, 12345 ticket number or title, and a work lane (`?work=verify`: the cases waiting for a step
the user takes, as the home page's 我的待办 counts them). The read is `cases.selectors.CaseListing`: the rows of
`cases.selectors.case_list`, which starts from `Case.objects.visible_to(user)`, found page by page without
sorting the whole scope.

The page counts at most COUNT_CAP + 1 rows (an exact total of a district's million cases took 0.4-0.5 s on
every view): past the cap it shows "共 10,000+ 条". `GET /api/v1/cases` keeps its exact `total`.

It pages by cursor, as the API does (`CaseListing.cursor_page`): 下一页 reads the rows after the page's last
(`?cursor=`), 上一页 the rows before its first (`?before=`), 第一页 drops both; every link keeps the filters, and
the language is the reader's (a cookie). A page 100,000 rows down then costs what the first does, where an offset
read and dropped every row above it. The list has one order (newest report first, then the higher id), the
cursors' key, so no order is left to page by offset. Page numbers are gone with the offsets: a seek does not
know how many rows lie above it, and an old `?page=` link shows the first page.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.apps.cases import clocks, selectors
from civicgrid.apps.cases.models import OPEN_STATUSES, Case, Status
from civicgrid.apps.cases.recipients import WAITING_STEP
from civicgrid.apps.cases_documents import ledger
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

from .cases_shared import STATUS_STYLE, category_classes, dispatch_departments
from .common import PAGE_SIZE, clean_code, page_view, region_choices

# The list shows no map: leave the grids' boundaries (often large) in the database.
ROW_FIELDS = (
    "pk", "number", "title", "status", "is_overdue", "is_supervised", "is_major", "is_self_handled",
    "extension_pending", "reported_at", "deadline", "region_code", "category__name", "grid__name",
    "department__name", "department__short_name", "category", "grid", "department",
    "category__time_limit_mode", "category__time_limit_amount",  # whether the deadline is provisional
)
# The page counts up to this many cases; a longer list shows "10,000+".
COUNT_CAP = 10_000
# The list's 当前环节期限: the due time of the clock of the step the case waits for (`WAITING_STEP`), named.
STEP_NAMES = {clocks.INTAKE: pgettext_lazy("clock step", "受理"), clocks.CHECK: pgettext_lazy("clock step", "核实"),
              clocks.DISPATCH: pgettext_lazy("clock step", "派遣"), clocks.HANDLE: pgettext_lazy("clock step", "处置"),
              clocks.VERIFY: pgettext_lazy("clock step", "核查"), clocks.CLOSE: pgettext_lazy("clock step", "结案")}
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
        "due_soon": True if _flag(params.get("due_soon")) else None,  # 即将超期 (the form offers "1" only)
        "supervised": _flag(params.get("supervised")),
        "q": (params.get("q") or "").strip()[:40],
        "work": lane.key if (lane := selectors.LANES.get((params.get("work") or "").strip())) else "",
        "work_label": lane.label if lane else "",
    }
    # The filters folded behind 「更多筛选」 that are set (overdue/supervised "no" narrows too); a lane with none
    # of them and no search is clear when its list is empty, and the page says so.
    shown["folded_active"] = bool(shown["status"] or shown["category"] or shown["region"] or shown["department"]
                                  or shown["overdue"] is not None or shown["due_soon"] is not None
                                  or shown["supervised"] is not None)
    shown["lane_only"] = bool(shown["work"]) and not shown["folded_active"] and not shown["q"]
    region = shown["region"] if len(shown["region"]) in (6, 9, 12, 15) else ""
    f = selectors.CaseFilter(status=status or None, category=shown["category"], region=region or None,
                             department=shown["department"], overdue=shown["overdue"],
                             due_soon=shown["due_soon"], supervised=shown["supervised"], q=shown["q"] or None, work=shown["work"] or None)
    return f, shown


def flags_of(case) -> list[dict]:
    return [{"label": label, "style": style} for name, label, style in FLAGS if getattr(case, name)]


def read_page(listing: selectors.CaseListing, params) -> tuple[selectors.CursorPage, bool]:
    """The page the query string names — after `?cursor=`, before `?before=` (the cursors the page's links
    carry, `CaseListing.cursor_page`), or the first — and whether a cursor was refused. A cursor the list did
    not give reads the first page (the page says so); so does a link the list has changed under (nothing
    after it, or less than a page before it: the list's start)."""
    after = (params.get("cursor") or "").strip() or None
    before = (params.get("before") or "").strip() or None
    if not (after or before):
        return listing.cursor_page(PAGE_SIZE), False
    try:
        found = listing.cursor_page(PAGE_SIZE, after=after, before=before)
    except selectors.BadCursor:
        return listing.cursor_page(PAGE_SIZE), True
    if not found.rows or (before and len(found.rows) < PAGE_SIZE):
        return listing.cursor_page(PAGE_SIZE), False
    return found, False


@page_view(selectors.CASE_FILE_CAPABILITY)
def case_list(request):
    """Cases in scope with the list's filters; each row links to its case."""
    f, shown = parse_filters(request.GET)
    listing = selectors.CaseListing(request.user, f, shape=lambda qs: qs.only(*ROW_FIELDS))
    found, refused = read_page(listing, request.GET)
    count = listing.capped_count(COUNT_CAP)
    provisional = sla.provisional_test()  # one read of the calendar for the page
    steps = waiting_clocks(found.rows)
    rows = []
    for c in found.rows:
        step = steps.get(c.pk)
        rows.append({"case": c, "flags": flags_of(c), "style": STATUS_STYLE.get(c.status, ""), "step": step,
                     "provisional": (c.status in OPEN_STATUSES and (step is None or step["kind"] == clocks.HANDLE)
                                     and clocks.deadline_provisional(c, provisional))})
    return render(request, "cases/list.html", {
        "pager": {"next": found.next_cursor, "previous": found.previous_cursor, "count": count,
                  "capped": count > COUNT_CAP, "cap_label": f"{COUNT_CAP:,}"},
        "cursor_refused": refused,
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


def waiting_clocks(cases) -> dict[int, dict]:
    """For each open case of a page, the step it waits for and that step's clock: its name, due time and
    whether it is past (one query for the page). A case waiting at 核查 shows 核查's due time, not the handling
    deadline it already met; a case whose step has no open clock (imported without clocks) shows its handling
    deadline when it waits for handling, and nothing otherwise."""
    waiting = {c.pk: WAITING_STEP[c.status] for c in cases if c.status in WAITING_STEP}
    if not waiting:
        return {}
    due = {(int(target), kind): at for target, kind, at in SlaClock.objects.filter(
        target_type=Case._meta.label_lower, target_id__in=[str(pk) for pk in waiting], state__in=OPEN_STATES,
        kind__in=set(waiting.values())).values_list("target_id", "kind", "due_at")}
    now = timezone.now()
    found = {}
    for c in cases:
        kind = waiting.get(c.pk)
        if kind is None:
            continue
        at = due.get((c.pk, kind))
        if at is None and kind == clocks.HANDLE:
            at = c.deadline
        if at is not None:
            found[c.pk] = {"kind": kind, "name": STEP_NAMES[kind], "due_at": at, "late": at <= now}
    return found


def _ledger_url(request) -> str:
    """The ledger download with the list's current filters (the ledger reads the same ones)."""
    params = request.GET.copy()
    for name in ("page", "cursor", "before"):
        params.pop(name, None)
    query = params.urlencode()
    return reverse("ui:case_ledger") + (f"?{query}" if query else "")
