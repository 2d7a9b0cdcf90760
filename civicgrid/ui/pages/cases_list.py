"""The case list (事件办理): cases in the user's scope, filtered and paged by 50 with a fixed number of queries.

Filters: status (one, every case not yet ended — 挂账 included — or those in the loop without 挂账, the board's
在办: `selectors.STATUS_GROUPS`), category class or subclass, region (street/community), department,
overdue, 即将超期 (`?due_soon=1`: a step past its clock's warning time, not yet overdue), supervised (now: the
supervision lane's cases, none whose loop ended), 重大事件
(`?is_major=1`), 上报日期 from/to (`date_from`, `date_to`), a search by number, 12345 ticket number or title (the
title as the user reads it, masked, where they may not read it in clear: `selectors.search_q`), and
a work lane (`?work=verify`: the cases waiting for a step
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

from django.core.exceptions import BadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.apps.cases import clocks, display, selectors
from civicgrid.apps.cases.models import OPEN_STATUSES, Case, Status
from civicgrid.apps.cases.recipients import WAITING_STEP
from civicgrid.apps.cases_documents import ledger
from civicgrid.foundation.access.scope import has_capability
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

from .cases_shared import STATUS_STYLE, category_classes, dispatch_departments
from .common import PAGE_SIZE, page_view, region_choices

# The list shows no map: leave the grids' boundaries (often large) in the database.
ROW_FIELDS = (
    "pk", "number", "title", "status", "is_overdue", "is_supervised", "is_major", "is_self_handled",
    "reopen_count", "extension_pending", "reported_at", "deadline", "region_code", "category__name",
    "category__name_en", "grid__name", "department__name", "department__short_name", "category", "grid", "department",
    "category__time_limit_mode", "category__time_limit_amount",  # whether the deadline is provisional
    "reporter",  # the user's own reports outside their region: listed for following, not in the ledger
)
# The page counts up to this many cases; a longer list shows "10,000+".
COUNT_CAP = 10_000
# The list's 当前环节期限: the due time of the clock of the step the case waits for (`WAITING_STEP`), named.
STEP_NAMES = {clocks.INTAKE: pgettext_lazy("clock step", "受理"), clocks.CHECK: pgettext_lazy("clock step", "核实"),
              clocks.DISPATCH: pgettext_lazy("clock step", "派遣"), clocks.HANDLE: pgettext_lazy("clock step", "处置"),
              clocks.VERIFY: pgettext_lazy("clock step", "核查"), clocks.CLOSE: pgettext_lazy("clock step", "结案")}
FLAGS = (("is_overdue", _("超期"), "warn"), ("is_supervised", _("督办"), "warn"), ("is_major", _("重大"), "warn"),
         ("extension_pending", _("延期待批"), ""), ("is_self_handled", _("自行处置"), ""))
# The tags that say what the case needs now: a case whose loop ended (closed, refused, voided, merged) is not
# overdue, supervised or waiting for an extension any more. Of them it shows only that it ran late (曾超期), a fact.
LIVE_FLAGS = frozenset({"is_overdue", "is_supervised", "extension_pending"})
WAS_OVERDUE = _("曾超期")


def parse_filters(params) -> tuple[selectors.CaseFilter, dict]:
    """The selector's filter from a query string (`selectors.filter_from_query`, which the ledger reads too, so
    the export link's rows are the list's), and the values to show back in the form. A value that is not one is
    refused (`ValidationFailed`, a 400 saying which), as the ledger refuses it."""
    f = selectors.filter_from_query(params)
    lane = selectors.LANES.get(f.work or "")
    shown = {
        "status": f.status or "",
        "category": f.category,
        "region": f.region or "",
        "department": f.department,
        "overdue": f.overdue,
        "due_soon": f.due_soon,
        "supervised": f.supervised,
        "is_major": f.is_major,
        "date_from": f.date_from.isoformat() if f.date_from else "",
        "date_to": f.date_to.isoformat() if f.date_to else "",
        "q": f.q or "",
        "work": lane.key if lane else "",
        "work_label": lane.label if lane else "",
    }
    # The filters folded behind 「更多筛选」 that are set (overdue/supervised "no" narrows too); a lane with none
    # of them and no search is clear when its list is empty, and the page says so.
    shown["folded_active"] = bool(shown["status"] or shown["category"] or shown["region"] or shown["department"]
                                  or shown["date_from"] or shown["date_to"]
                                  or any(getattr(f, name) is not None for name in selectors.FLAG_FILTERS))
    shown["lane_only"] = bool(shown["work"]) and not shown["folded_active"] and not shown["q"]
    return f, shown


# A 自行处置 case a reporter had reopened is no longer handled on the spot: the flag says so (the case keeps
# `is_self_handled`, how it entered the record, which the evaluation counts).
SELF_HANDLED_REOPENED = _("自行处置后重新办理")


def flags_of(case) -> list[dict]:
    def label_of(name, label, style):
        if name == "is_self_handled" and case.reopen_count:
            return {"label": SELF_HANDLED_REOPENED, "style": "warn"}
        return {"label": label, "style": style}

    if not display.ended(case.status):
        return [label_of(name, label, style) for name, label, style in FLAGS if getattr(case, name)]
    flags = [{"label": WAS_OVERDUE, "style": ""}] if case.is_overdue else []
    return flags + [label_of(name, label, style) for name, label, style in FLAGS
                    if name not in LIVE_FLAGS and getattr(case, name)]


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
    """Cases in scope with the list's filters; each row links to its case. A filter value that is not one is a
    400 saying which (the site's page, in the reader's language), as the ledger's link answers it."""
    try:
        f, shown = parse_filters(request.GET)
        listing = selectors.CaseListing(request.user, f, shape=lambda qs: qs.only(*ROW_FIELDS))
    except ValidationFailed as exc:
        raise BadRequest(exc.message) from None
    lane = selectors.LANES.get(shown["work"])
    # A lane whose step the reader does not take lists nothing for them (its scope is the step's, `scope_action`):
    # the page says the lane is not theirs, not that it is clear.
    shown["lane_not_theirs"] = lane is not None and not has_capability(request.user, lane.capability)
    shown["lane_only"] = shown["lane_only"] and not shown["lane_not_theirs"]
    found, refused = read_page(listing, request.GET)
    count = listing.capped_count(COUNT_CAP)
    provisional = sla.provisional_test()  # one read of the calendar for the page
    steps = waiting_clocks(found.rows)
    may_export = has_capability(request.user, ledger.CAPABILITY)
    outside = outside_ledger(request.user, found.rows) if may_export else set()
    rows = []
    for c in found.rows:
        step = steps.get(c.pk)
        flags = flags_of(c) + ([{"label": OWN_REPORT_ELSEWHERE, "style": "", "outside": True}]
                               if c.pk in outside else [])
        rows.append({"case": c, "flags": flags, "style": STATUS_STYLE.get(c.status, ""), "step": step,
                     "provisional": (c.status in OPEN_STATUSES and (step is None or step["kind"] == clocks.HANDLE)
                                     and clocks.deadline_provisional(c, provisional))})
    return render(request, "cases/list.html", {
        "pager": {"next": found.next_cursor, "previous": found.previous_cursor, "count": count,
                  "capped": count > COUNT_CAP, "cap_label": f"{COUNT_CAP:,}"},
        "cursor_refused": refused,
        # the search holds a number or name that titles show masked where the user may not read them in clear:
        # there only what the titles show is searched (`selectors.search_q`), and the page says so
        "search_masked": selectors.search_masked(request.user, f.q),
        "rows": rows,
        "f": shown,
        "statuses": Status.choices,
        "classes": category_classes(),
        "departments": dispatch_departments(),
        "region_choices": region_choices(request.user, "cases.view", shown["region"]),
        "can_report": has_capability(request.user, "cases.report"),
        "can_intake": has_capability(request.user, "cases.intake"),
        "ledger_url": _ledger_url(request) if may_export else "",
        "outside_ledger": len(outside),
    })


# A case the user reported outside their region is theirs to follow (`Case.scope_branches` adds their own
# reports for viewing) but not their region's record: the ledger, like the board and the evaluation, stays
# regional (models: "Board, evaluation, export and staff work stay regional"). The list says which rows those are.
OWN_REPORT_ELSEWHERE = _("本人上报（辖区外，不入台账）")


def outside_ledger(user, cases) -> set[int]:
    """The user's own reports on the page that lie outside their export scope (one query, and only for a page
    holding some report of theirs)."""
    own = [c.pk for c in cases if c.reporter_id == user.pk]
    if not own:
        return set()
    return set(own) - set(Case.objects.visible_to(user, "export").filter(pk__in=own).values_list("pk", flat=True))


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
