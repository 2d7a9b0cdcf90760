"""Evaluation API: the ranking table of one subject kind over a period, as JSON or as an Excel file.

    GET /api/v1/evaluation?subject=department&month=2026-05
    GET /api/v1/evaluation?subject=grid&start=2026-04-01&end=2026-06-30
    GET /api/v1/evaluation/export?subject=street&month=2026-05        (.xlsx, audited)

Needs `cases.evaluate` (leaders, command-centre dispatchers; street and community staff for their own region's
street/community, grid and grid_worker tables, 403 for the others); only cases within the caller's scope count. A month
is exactly YYYY-MM and dates YYYY-MM-DD (422 otherwise); a period that has not begun (its first day after
today) is refused with the reason (400), as the page and its export refuse it.

`as_of` (optional, Beijing time: `YYYY-MM-DD`, the end of that day, or `YYYY-MM-DD HH:MM[:SS]`) computes the
table as the cases stood at that moment, as the page's and the xlsx's `as_of` do (the same parser,
`selectors.parse_as_of`): a signed table is recomputed from the 统计于 it shows. A moment that does not exist,
is malformed or is still to come is refused (400, `field: "as_of"`). The answer's `as_of` is the moment the
table was computed at (the one asked for, or now), in district time with its offset, to keep beside the table;
sent back as `as_of` as it is, it recomputes the same table.

The JSON table is paged as every list of /api/v1 is (`limit`, 50 by default as the page shows them, and
`offset`, both bounded: 422 out of range) and, like the page, lists the ranked rows only unless `unranked=true`:
`total` is how many rows the listing holds, `count` those on this page, `unranked_total` the unranked rows left
out. A row's `rank` is its place in the whole table, whatever the page (row 51 is ranked 51 on the second page).
The system accounts (`system_items`, never ranked) come with every page. The export is always the whole table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from ninja import Field, Query, Router, Schema

from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.foundation.core.api_errors import errors
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.pagination import Limit, Offset

from . import formulas, selectors, xlsx

router = Router(tags=["evaluation"])
PREFIX = "/"

AS_OF_HELP = ("统计时点 (optional): the table as the cases stood at that moment, Beijing time: YYYY-MM-DD (the end "
              "of that day) or YYYY-MM-DD HH:MM[:SS], as the page's as_of, or the answer's as_of as given "
              "(2026-11-13T18:00:00+08:00); recomputes a signed table from its 统计于. "
              "Without it: now. A malformed, non-existent or future moment is refused (400, field as_of).")
SubjectName = Literal[tuple(selectors.SUBJECTS)]  # type: ignore[valid-type]


class EvaluationQuery(Schema):
    # department | grid | grid_worker | dispatcher | intake | shift_lead | street | community; without it the
    # caller's first kind (department; community for street and community staff)
    subject: SubjectName | None = None
    month: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; or start/end")
    start: date | None = None  # first day (district date)
    end: date | None = None  # last day, inclusive
    as_of: str | None = Field(None, max_length=40, description=AS_OF_HELP)

    def evaluate(self, user) -> selectors.Evaluation:
        start, end = selectors.period(month=self.month, start=self.start, end=self.end)
        subject = self.subject or next(iter(selectors.subjects_for(user)), "department")
        return selectors.evaluate(user, subject, start, end, as_of=selectors.parse_as_of(self.as_of))


class EvaluationPageQuery(EvaluationQuery):
    """The JSON table's query: the period and subject, and which rows of the listing (see the docstring)."""

    unranked: bool = Field(False, description="also list the rows without a rank (after the ranked ones), as "
                                              "the page's unranked=1 does")
    limit: Limit = 50
    offset: Offset = 0


class TermOut(Schema):
    key: str
    label: str
    weight: float


class RowOut(Schema):
    rank: int | None
    key: str  # department id, region code or account id
    name: str
    code: str
    score: float | None  # 综合指标值 out of 100, two decimals; null without data
    grade: str | None  # A–E
    unscored_reason: str | None  # without a score: why (本期无上报，不参与排名 for a grid worker, 无数据 otherwise)
    counts: dict[str, int]
    rates: dict[str, float | None]  # percentages, two decimals; null where nothing was measured


class EvaluationOut(Schema):
    subject: str
    subject_label: str
    start: date
    end: date
    as_of: datetime = Field(description="统计于: the moment the table was computed at (the `as_of` asked for, or "
                                        "now), district time with its offset, e.g. 2026-11-14T00:00:00+08:00")
    formula: list[TermOut]
    rate_labels: dict[str, str]
    count_labels: dict[str, str]
    items: list[RowOut]  # this page of the listing; `rank` is the whole table's
    count: int  # rows on this page
    total: int  # rows of the listing (ranked only, unless unranked=true)
    unranked_total: int  # rows without a rank not listed (0 with unranked=true)
    system_items: list[RowOut]  # staff tables: accounts the system acts under (auto-dispatch), not ranked


def as_json(ev: selectors.Evaluation, *, unranked: bool = False, limit: int = 50, offset: int = 0) -> dict:
    """One page of the ranking table as the API answers it: the ranked rows come first (`selectors._rank`) and
    keep the rank they hold in the whole table; the unranked ones are listed after them only when asked for."""
    listed = ev.rows if unranked else [r for r in ev.rows if r.rank is not None]
    rows, total = listed[offset : offset + limit], len(listed)  # bounds checked by `Limit`/`Offset` (422)
    return {
        "subject": ev.kind.key,
        "subject_label": ev.kind.label,
        "start": ev.start,
        "end": ev.end,
        "as_of": ev.as_of,
        "formula": [{"key": t.key, "label": t.display(kind=ev.kind.key), "weight": float(t.weight)} for t in ev.terms],
        "rate_labels": {k: formulas.RATES[k].label for k in ev.rate_keys},
        "count_labels": {k: formulas.count_label(ev.kind.key, k) for k in ev.count_keys},
        "items": [_row(r) for r in rows],
        "count": len(rows),
        "total": total,
        "unranked_total": len(ev.rows) - len(listed),
        "system_items": [_row(r) for r in ev.system_rows],
    }


def _row(r: selectors.Row) -> dict:
    return {"rank": r.rank, "key": r.key, "name": r.name, "code": r.code, "score": formulas.as_score(r.score),
            "grade": r.grade, "unscored_reason": r.unscored_reason, "counts": r.counts, "rates": {k: formulas.as_percent(v) for k, v in r.rates.items()}}


@router.get("/evaluation", response={200: EvaluationOut, **errors(400, 401, 403, 422)}, url_name="evaluation")
def evaluation(request, query: Query[EvaluationPageQuery]):
    """综合评价 ranking table: rates, composite score and grade of every subject of one kind (best first), one
    page of it (`limit`/`offset`; ranks are the whole table's; the unranked rows only with `unranked=true`)."""
    return as_json(query.evaluate(request.user), unranked=query.unranked, limit=query.limit, offset=query.offset)


@router.get("/evaluation/export", response={200: None, **errors(400, 401, 403, 422)}, url_name="evaluation_export")
def evaluation_export(request, query: Query[EvaluationQuery]):
    """The same table as .xlsx with Chinese headers (the export is recorded in the audit trail)."""
    ev = query.evaluate(request.user)
    return file_response(xlsx.export(ev, actor=request.user), xlsx.filename(ev), XLSX_TYPE)


# Answers about the caller's scope as a whole (counts per subject), not objects: 'detail' without a lookup is
# checked by the scope contract for status, HTML tables and leaked markers; that the counts stay inside scope
# is tested in evaluation/tests/test_scope.py.
data_endpoint("api:evaluation", "cases.Case", "detail")
data_endpoint("api:evaluation_export", "cases.Case", "detail")
