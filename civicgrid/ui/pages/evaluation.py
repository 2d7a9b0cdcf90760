"""综合评价 pages: the ranking table of one subject kind over a month or any period, and its xlsx export.

Thin: parse the period, call `evaluation.selectors.evaluate` (capability `cases.evaluate`, scoped cases only),
render. The same table is at `GET /api/v1/evaluation`, paged alike (`limit`/`offset`, `unranked=true`). Labels are kept in Chinese in the data (xlsx headers, API)
and translated here for the page.

The page shows the table `PAGE_SIZE` rows at a time (a district's 1,000 grid workers on one page were ~1 MB of
HTML), ranks as in the whole table. It lists the ranked rows only unless `unranked=1` (the form's checkbox): a
leader reads a ranking, and the 800 workers without a report in a month (本期无上报，不参与排名) would fill 16 pages
after it and put the real bottom of the ranking mid-table; the page says how many there are (另有 N 个未参与排名)
with a link that lists them. The export is always the whole table, ranked and unranked.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import BadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from civicgrid.apps.cases.models import SYSTEM_ACCOUNT_LABELS
from civicgrid.apps.evaluation import formulas, selectors, xlsx
from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import PAGE_SIZE, page_view

PERIODS = ("month", "range")  # the form's choice: 按月 or 按日期范围


def _ask(request) -> dict:
    """The subject and period as asked (strings, echoed back into the form; a month by default: this one).

    The page's form says which period it means (`period=month|range`), so the field it does not mean is dropped:
    the month it prefilled no longer makes a date range ambiguous. Without that choice (a link, the export, the
    API) a month and dates together are refused by `selectors.period`."""
    params = request.GET
    # As typed, never cut to size: '2026-011' cut to '2026-01' evaluated January; the selectors refuse it.
    ask = {"subject": params.get("subject") or next(iter(selectors.subjects_for(request.user)), "department"), "month": (params.get("month") or "").strip(),
           "start": (params.get("start") or "").strip(), "end": (params.get("end") or "").strip(),
           # 统计时点 (optional): the table as it stood then, to reproduce an exported one (its 说明 says 统计于)
           "as_of": (params.get("as_of") or "").strip()}
    chosen = params.get("period")
    if chosen == "range":
        ask["month"] = ""
    elif chosen == "month":
        ask["start"] = ask["end"] = ""
    if not (ask["month"] or ask["start"] or ask["end"]):
        ask["month"] = f"{timezone.localdate():%Y-%m}"
    return ask


def _period_choice(ask: dict) -> str:
    """Which choice the form shows selected: dates when dates are asked for (or nothing at all with `range`)."""
    return "range" if (ask["start"] or ask["end"]) and not ask["month"] else "month"


def _evaluate(request, ask: dict) -> selectors.Evaluation:
    start, end = selectors.period(month=ask["month"] or None, start=selectors.parse_day(ask["start"], "start"),
                                  end=selectors.parse_day(ask["end"], "end"))
    try:
        return selectors.evaluate(request.user, ask["subject"], start, end, as_of=selectors.parse_as_of(ask["as_of"]))
    except PermissionDenied as exc:  # its words (which tables this account may see) reach the 403 page
        raise DjangoPermissionDenied(*exc.args) from None


def _table(ev: selectors.Evaluation, rate_labels: list[str], count_labels: list[str], rows=None) -> list[dict]:
    """Each row's figures with their column's label (a phone shows each cell as "label value"); the ranking's
    rows unless others are given (the system accounts listed below it, named in the reader's language as the
    case history names them: `SYSTEM_ACCOUNT_LABELS`; the xlsx, in Chinese, keeps the account's own name). A
    department is named as dense tables name it (`Organisation.brief_name`, the full name on hover); the xlsx and
    the API name it in full."""
    return [{"row": r, "score": formulas.as_score(r.score),
             "name": str(SYSTEM_ACCOUNT_LABELS.get(r.name, r.name)) if r.system else r.brief or r.name,
             "full_name": r.name if r.brief and r.brief != r.name else "",
             "unscored": gettext(r.unscored_reason) if r.unscored_reason else "",
             "rates": list(zip(rate_labels, [formulas.as_percent(r.rates.get(k)) for k in ev.rate_keys], strict=True)),
             "counts": list(zip(count_labels, [r.counts.get(c, 0) for c in ev.count_keys], strict=True))}
            for r in (ev.rows if rows is None else rows)]


@page_view(selectors.CAPABILITY)
def evaluation(request):
    """The ranking table (best first) with the formula it was scored by, one page of it (see the docstring)."""
    ask = _ask(request)
    show_unranked = request.GET.get("unranked") == "1"
    keep = {"unranked": "1"} if show_unranked else {}  # the tabs keep the choice; the export lists everything
    allowed = selectors.subjects_for(request.user)  # street and community staff: their region's kinds only
    tabs = [{"key": key, "label": gettext(kind.label), "current": key == ask["subject"],
             "query": urlencode({k: v for k, v in {**ask, "subject": key, **keep}.items() if v})}
            for key, kind in selectors.SUBJECTS.items() if key in allowed]
    context = {"ask": ask, "tabs": tabs, "error": "", "period": _period_choice(ask), "show_unranked": show_unranked}
    try:
        ev = _evaluate(request, ask)
    except ValidationFailed as exc:
        context["error"] = one_language(exc.message)
        return render(request, "evaluation/ranking.html", context, status=400)
    rate_labels = [gettext(formulas.RATES[k].label) for k in ev.rate_keys]
    count_labels = [gettext(formulas.count_label(ev.kind.key, c)) for c in ev.count_keys]
    # The ranked rows come first (`selectors._rank`); the rank is the whole table's, whatever the page.
    listed = ev.rows if show_unranked else [r for r in ev.rows if r.rank is not None]
    page_obj = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    last_page = not page_obj.has_next()
    context.update({
        "ev": ev,
        "page_obj": page_obj,
        "rows": _table(ev, rate_labels, count_labels, page_obj.object_list),
        "hidden_unranked": len(ev.rows) - len(listed),
        "unranked_query": urlencode({**{k: v for k, v in ask.items() if v}, "unranked": "1"}),
        # below the ranking: on its last page
        "system_rows": _table(ev, rate_labels, count_labels, ev.system_rows) if last_page else [],
        "kind_label": gettext(ev.kind.label),
        "rate_labels": rate_labels,
        "count_labels": count_labels,
        "columns": len(ev.rate_keys) + len(ev.count_keys) + 4,
        "formula": " + ".join(f"{t.display(gettext, kind=ev.kind.key)}×{float(t.weight) * 100:g}%" for t in ev.terms),
        "export_query": urlencode({k: v for k, v in ask.items() if v}),
        "region_weights_note": ev.kind.key in formulas.REGION_KINDS,
    })
    return render(request, "evaluation/ranking.html", context)


@page_view(selectors.CAPABILITY)
def evaluation_export(request):
    """The same table as .xlsx (Chinese headers), recorded in the audit trail. A period or subject refused is the
    site's 400 page saying why, in the reader's language, as the case ledger's link answers it."""
    try:
        ev = _evaluate(request, _ask(request))
    except ValidationFailed as exc:
        raise BadRequest(exc.message) from None
    return file_response(xlsx.export(ev, actor=request.user), xlsx.filename(ev), XLSX_TYPE)


urlpatterns = [
    path("", evaluation, name="evaluation"),
    path("export.xlsx", evaluation_export, name="evaluation_export"),
]

# Counts per subject over the caller's scope, not objects: 'detail' without a lookup is checked by the scope
# contract for status, HTML tables and leaked markers; the counts' scope is tested in evaluation's tests.
data_endpoint("ui:evaluation", "cases.Case", "detail")
data_endpoint("ui:evaluation_export", "cases.Case", "detail")

register(MenuItem("evaluation", gettext_noop("综合评价"), "ui:evaluation", selectors.CAPABILITY, order=16))
