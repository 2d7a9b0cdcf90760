"""A category taken out of the public feed and put back (`Category.left_feed_at`, `back_in_feed_at`): what was
done to its requests meanwhile became public at its return, and Open311 dates it then, so that a client fetching
consecutive windows (FixMyStreet: updates and requests by start_date/end_date) finds it in the window in which it
appeared, never only in one it had already read. Steps taken while the category was in the feed keep their time.
Django's clock is moved (`clock_at`), as the hours would pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.apps.categories import xlsx
from civicgrid.apps.categories.models import Category
from civicgrid.apps.categories.services import update_category
from civicgrid.testing.clock import clock_at
from civicgrid.testing.xlsx import sheet_rows as _sheet
from civicgrid.testing.xlsx import workbook as _workbook

from .conftest import get, xml
from .test_review_windows import HOUR, _params, _report

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


@pytest.fixture
def t0():
    return timezone.now().replace(microsecond=0) + MINUTE


def _feed(category: Category, *, on: bool) -> None:
    """An administrator takes the category out of the feed, or puts it back (the category page's service)."""
    update_category(actor=None, category=Category.objects.get(pk=category.pk), in_public_feed=on)


def _windows(http, t0, hours: int, timeline: list[tuple]) -> dict[int, list[dict]]:
    """Run the `timeline`'s (moment, action) in order, and ask for the last hour's updates (JSON, and XML the
    same) at T0+1h, T0+2h, … as they come: what each consecutive window listed."""
    seen, pending = {}, sorted(timeline, key=lambda pair: pair[0])
    for k in range(1, hours + 1):
        now = t0 + k * HOUR
        while pending and pending[0][0] <= now:
            moment, action = pending.pop(0)
            with clock_at(moment):
                action()
        with clock_at(now):
            seen[k] = get(http, "servicerequestupdates.json", **_params(now - HOUR, now)).json()
            root = xml(get(http, "servicerequestupdates.xml", **_params(now - HOUR, now)))
        assert [(u.find("update_id").text, u.find("updated_datetime").text) for u in root.findall("request_update")] \
            == [(u["update_id"], u["updated_datetime"]) for u in seen[k]]
    return seen


def _at(update: dict) -> datetime:
    return datetime.fromisoformat(update["updated_datetime"])


def _of(updates: list[dict], case: Case) -> list[tuple[str, datetime]]:
    return [(u["description"], _at(u)) for u in updates if u["service_request_id"] == case.number]


def test_a_step_taken_while_the_category_was_out_of_the_feed_is_listed_in_the_window_of_its_return(
    o311, http, t0
):
    case = _report(o311, http, t0)

    def accept():
        act(actor=o311.dispatcher, case=case, action="accept")

    def dispatch():
        act(actor=o311.dispatcher, case=case, action="dispatch", department=o311.dept.pk)

    def report_back():
        act(actor=o311.handler, case=case, action="report_back", note="已清理")

    listed = {}

    def hourly_requests(k):
        now = timezone.now()
        listed[k] = get(http, "requests.json", **_params(now - HOUR, now)).json()

    seen = _windows(http, t0, 4, [
        (t0 + 2 * HOUR, lambda: hourly_requests(2)),
        (t0 + 3 * HOUR, lambda: hourly_requests(3)),
        (t0 + 10 * MINUTE, accept),
        (t0 + HOUR + 10 * MINUTE, lambda: _feed(o311.cat, on=False)),
        (t0 + HOUR + 30 * MINUTE, dispatch),  # while out of the feed
        (t0 + 2 * HOUR + 30 * MINUTE, lambda: _feed(o311.cat, on=True)),
        (t0 + 3 * HOUR + 30 * MINUTE, report_back),
    ])
    assert _of(seen[1], case) == [("立案", t0 + 10 * MINUTE)]  # in the feed then: its own time
    assert _of(seen[2], case) == []  # out of the feed
    assert _of(seen[3], case) == [("派遣：区城管局", t0 + 2 * HOUR + 30 * MINUTE)]  # public from its return
    assert _of(seen[4], case) == [("处置反馈：已清理", t0 + 3 * HOUR + 30 * MINUTE)]
    # every update of the request was in exactly one window
    ids = [u["update_id"] for k in seen for u in seen[k] if u["service_request_id"] == case.number]
    assert sorted(ids) == sorted(str(pk) for pk in CaseStep.objects.filter(
        case=case, action__in=("accept", "dispatch", "report_back")).values_list("pk", flat=True))
    # a wide window lists them in the order they became public, each at that time
    with clock_at(t0 + 4 * HOUR):
        wide = get(http, "servicerequestupdates.json", **_params(t0, t0 + 4 * HOUR)).json()
    assert [d for d, _at in _of(wide, case)] == ["立案", "派遣：区城管局", "处置反馈：已清理"]
    # GET requests, hour by hour: out of the feed, not listed; public again at the return, found (placed) in
    # that hour with that updated_datetime, though its last change was before
    assert listed[2] == []
    assert [r["service_request_id"] for r in listed[3]] == [case.number]
    assert _at(listed[3][0]) == t0 + 2 * HOUR + 30 * MINUTE and listed[3][0]["lat"]


def test_a_merged_requests_repeat_waits_for_the_return_of_its_own_category(o311, http, t0):
    """A (in a category later out of the feed) merged into B: B's 派遣 while A's category was out is listed under
    B at its time, and under A's id at the return of A's category."""
    carrier = _report(o311, http, t0)
    merged = _report(o311, http, t0)
    Case.objects.filter(pk=merged.pk).update(category=o311.plain)
    with clock_at(t0 + 10 * MINUTE):
        act(actor=o311.dispatcher, case=carrier, action="accept")
        act(actor=o311.dispatcher, case=merged, action="merge", parent=carrier.number)

    def dispatch():
        act(actor=o311.dispatcher, case=carrier, action="dispatch", department=o311.dept.pk)

    seen = _windows(http, t0, 3, [
        (t0 + HOUR + 10 * MINUTE, lambda: _feed(o311.plain, on=False)),
        (t0 + HOUR + 30 * MINUTE, dispatch),
        (t0 + 2 * HOUR + 30 * MINUTE, lambda: _feed(o311.plain, on=True)),
    ])
    assert _of(seen[1], merged) == [("合并到主案卷", t0 + 10 * MINUTE)]
    assert _of(seen[2], carrier) == [("派遣：区城管局", t0 + HOUR + 30 * MINUTE)] and _of(seen[2], merged) == []
    assert _of(seen[3], merged) == [("派遣：区城管局", t0 + 2 * HOUR + 30 * MINUTE)] and _of(seen[3], carrier) == []
    dispatch_step = CaseStep.objects.get(case=carrier, action="dispatch")
    assert [u["update_id"] for u in seen[3]] == [f"{dispatch_step.pk}-{merged.number}"]


def test_every_way_of_changing_a_category_marks_when_it_left_the_feed_and_came_back(o311, t0):
    plain = o311.plain
    assert (plain.left_feed_at, plain.back_in_feed_at) == (None, None)
    with clock_at(t0):
        update_category(actor=None, category=plain, keywords="渣土")  # not about the feed: no mark
    plain.refresh_from_db()
    assert (plain.left_feed_at, plain.back_in_feed_at) == (None, None)
    with clock_at(t0 + HOUR):
        update_category(actor=None, category=plain, is_public=False)  # closed to reports: out of the feed too
    plain.refresh_from_db()
    assert (plain.left_feed_at, plain.back_in_feed_at) == (t0 + HOUR, None)
    with clock_at(t0 + 2 * HOUR):
        update_category(actor=None, category=plain, is_public=True)
    plain.refresh_from_db()
    assert (plain.left_feed_at, plain.back_in_feed_at) == (t0 + HOUR, t0 + 2 * HOUR)
    # the xlsx import, out and back
    rows = _sheet(xlsx.export_categories(actor=None, taxonomy=plain.taxonomy)[0])
    row = next(r for r in rows[1:] if r[1] == plain.code)
    column = list(xlsx.HEADERS).index("公开到开放接口")
    for moment, flag in ((t0 + 3 * HOUR, "否"), (t0 + 4 * HOUR, "是")):
        row[column] = flag
        with clock_at(moment):
            report = xlsx.import_categories(actor=None, data=_workbook([rows[0], row]))
        assert report.ok and report.updated == 1, report
    plain.refresh_from_db()
    assert (plain.left_feed_at, plain.back_in_feed_at) == (t0 + 3 * HOUR, t0 + 4 * HOUR)
    # a category never out of the feed, or one created out of it, carries no mark
    o311.cat.refresh_from_db()
    assert (o311.cat.left_feed_at, o311.cat.back_in_feed_at) == (None, None)
