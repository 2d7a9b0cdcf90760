"""A month's figures count what happened in the month, from the timeline and the clocks, not from case fields a
later step clears (重新办理 clears the deadline and the handling), nor from a state taken after the month ended
(挂账 on the first of the next month); a case accepted but not dispatched in time is due to close."""

from __future__ import annotations

import io
from datetime import date, datetime, time

import pytest
from django.utils import timezone
from PIL import Image

from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.evaluation import selectors
from civicgrid.dashboards.command.selectors import today_figures
from civicgrid.foundation.access.models import Grant
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import category, user_with
from civicgrid.testing.clock import clock_at

pytestmark = pytest.mark.django_db
POINT = (113.21, 40.01)  # grid 140213050001001 of the builders' tree
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
GRID = "140213050001001"


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 160, 60)).save(buf, "JPEG")
    return buf.getvalue()


def moment(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, month, day), time(hour, minute), tzinfo=timezone.get_current_timezone())


def step(when: datetime, actor, case, action: str, **inputs):
    with clock_at(when):
        return act(actor=actor, case=case, action=action, **inputs)


def reported(d, when: datetime):
    with clock_at(when):
        case, _ = submit_case(actor=d.worker, title="井盖缺失", lng=POINT[0], lat=POINT[1], source="grid_worker",
                              category=category("井盖缺失", "01001").pk)
    return case


def closed_on_time(d, handler, day: int):
    """Reported, accepted, dispatched, handled, verified and closed on one November working day, in time."""
    case = reported(d, moment(11, day, 9))
    step(moment(11, day, 9, 10), d.dispatcher, case, "accept")
    step(moment(11, day, 9, 20), d.dispatcher, case, "dispatch", department=d.dept.pk)
    step(moment(11, day, 10), handler, case, "report_back", note="已补装")
    step(moment(11, day, 11), d.worker, case, "verify", photos=[jpeg()])
    return step(moment(11, day, 11, 30), d.dispatcher, case, "close")


def row(d, kind: str, code: str, as_of: datetime):
    ev = selectors.evaluate(d.leader, kind, *NOVEMBER, as_of=as_of)
    return next(r for r in ev.rows if r.code == code)


@pytest.fixture
def handler(district):
    made = user_with(Role.DEPARTMENT_HANDLER, department=district.dept, username="h-cg")
    Grant.objects.update(valid_from=moment(10, 1))  # everyone held their role through November
    return made


@pytest.fixture(autouse=True)
def granted_since_october(district):
    Grant.objects.update(valid_from=moment(10, 1))


def test_a_case_reopened_in_the_month_stays_due_and_handled(district, handler):
    """Closed in time, then 重新办理 (which clears the deadline and the handling): the month still had it due to
    handle and close, and handled; it is no longer closed (27/32, not 27/31)."""
    d = district
    kept = closed_on_time(d, handler, 10)
    reopened = closed_on_time(d, handler, 11)
    step(moment(11, 16), d.dispatcher, reopened, "reopen", reason="又坏了")
    reopened.refresh_from_db()
    assert reopened.deadline is None and reopened.handled_at is None and kept.status == "closed"

    dept = row(d, "department", "D-CG", moment(11, 30, 23))
    assert dept.counts["due_close"] == 2 and dept.counts["closed"] == 1
    assert dept.counts["due_handle"] == 2 and dept.counts["handled"] == 2
    assert row(d, "intake", "cd", moment(11, 30, 23)).counts["verify_sent"] == 2
    grid = row(d, "grid", GRID, moment(11, 30, 23))
    assert grid.counts["due_close"] == 2 and grid.counts["closed"] == grid.counts["closed_timely"] == 1


def test_a_reopening_after_the_month_does_not_change_it(district, handler):
    """Reopened on 12-01: November, evaluated on 12-02, still saw the case closed in time."""
    d = district
    case = closed_on_time(d, handler, 27)
    step(moment(12, 1, 9), d.dispatcher, case, "reopen", reason="又坏了")
    step(moment(12, 1, 10), d.dispatcher, case, "dispatch", department=d.dept.pk)  # a new round, judged afresh
    grid = row(d, "grid", GRID, moment(12, 2, 12))
    assert grid.counts["due_close"] == grid.counts["closed"] == grid.counts["closed_timely"] == 1
    dept = row(d, "department", "D-CG", moment(12, 2, 12))
    assert dept.counts["handled_timely"] == dept.counts["due_handle"] == 1
    assert dept.counts["closed"] == dept.counts["due_close"] == 1
    assert row(d, "shift_lead", "cd", moment(12, 2, 12)).counts["close_step_timely"] == 1


def test_a_suspension_after_the_month_leaves_it_as_it_was(district, handler):
    """Overdue on 11-30 and 挂账 on 12-01: November's 应处置数 and 应结案数 still hold it, and its 结案率 stays 0."""
    d = district
    case = reported(d, moment(11, 23, 9))
    step(moment(11, 23, 9, 10), d.dispatcher, case, "accept")
    step(moment(11, 23, 9, 20), d.dispatcher, case, "dispatch", department=d.dept.pk)
    case.refresh_from_db()
    assert case.deadline < moment(11, 30, 23)
    step(moment(12, 1, 9), d.dispatcher, case, "suspend", reason="等待预算")

    dept = row(d, "department", "D-CG", moment(12, 1, 12))
    assert dept.counts["due_close"] == dept.counts["due_handle"] == 1
    assert dept.counts["closed"] == dept.counts["handled"] == 0
    assert dept.rates["closure_rate"] == 0


def test_a_case_accepted_but_not_dispatched_in_time_is_due_to_close(district):
    """立案 on 11-30 and never dispatched: its dispatch clock ran out that day, so its grid, community and street
    had it due to close (and did not close it); the board's 按期结案率 counts it on the day it fell due."""
    d = district
    case = reported(d, moment(11, 30, 9))
    step(moment(11, 30, 9, 10), d.dispatcher, case, "accept")
    for kind, code in (("grid", GRID), ("community", GRID[:12]), ("street", GRID[:9])):
        subject = row(d, kind, code, moment(12, 1, 12))
        assert (subject.counts["due_close"], subject.counts["closed"]) == (1, 0), kind
        assert subject.rates["closure_rate"] == 0

    with clock_at(moment(12, 1, 12)):
        figures = today_figures(d.leader, date(2026, 11, 30))
    assert figures.due_close == 1 and figures.closed_timely == 0


def test_a_case_dispatched_in_time_is_not_due_before_its_deadline(district, handler):
    """The other side: dispatched in time, its handling deadline still ahead: not due yet."""
    d = district
    case = reported(d, moment(11, 30, 9))
    step(moment(11, 30, 9, 10), d.dispatcher, case, "accept")
    step(moment(11, 30, 9, 20), d.dispatcher, case, "dispatch", department=d.dept.pk)
    assert row(d, "grid", GRID, moment(11, 30, 23)).counts["due_close"] == 0


def test_a_past_table_is_reproduced_as_of_its_moment(district, handler, client):
    """The xlsx says when it was computed (统计于); `as_of` computes the table as it stood then: before the
    重新办理 of 11-16, November's grid had its case closed. A moment that does not exist or is still to come is
    refused with the reason, and nothing is exported."""
    from openpyxl import load_workbook

    from civicgrid.foundation.audit.models import AuditEntry

    d = district
    case = closed_on_time(d, handler, 11)
    step(moment(11, 16), d.dispatcher, case, "reopen", reason="又坏了")
    client.force_login(d.leader)

    def sheet(**extra):
        response = client.get("/evaluation/export.xlsx", {"subject": "grid", "month": "2026-11", **extra})
        book = load_workbook(io.BytesIO(response.content))
        header, first = list(book.worksheets[0].iter_rows(max_row=2, values_only=True))
        notes = dict(book.worksheets[1].iter_rows(values_only=True))
        return dict(zip(header, first, strict=True)), notes

    then, notes = sheet(as_of="2026-11-13")
    assert (then["编码"], then["应结案数"], then["结案数"], then["排名"]) == (GRID, 1, 1, 1)
    assert notes["统计于"].startswith("2026-11-14 00:00:00")
    again, _ = sheet(as_of="2026-11-13 23:59")
    assert again == then
    now, _ = sheet()
    assert (now["应结案数"], now["结案数"]) == (1, 0)
    page = client.get("/evaluation/", {"subject": "grid", "month": "2026-11", "as_of": "2026-11-13"})
    assert page.status_code == 200 and "as_of=2026-11-13" in page.content.decode()  # the export link keeps it

    exported = AuditEntry.objects.filter(action="data.exported").count()
    for text, words in (("2026-11-31", "统计时点不存在"), ("2099-01-01", "尚未到来"), ("13/11/2026", "统计时点格式")):
        for path in ("/evaluation/", "/evaluation/export.xlsx"):
            refused = client.get(path, {"subject": "grid", "month": "2026-11", "as_of": text})
            assert refused.status_code == 400 and words in refused.content.decode(), (path, text)
    assert AuditEntry.objects.filter(action="data.exported").count() == exported


def test_steps_after_the_month_change_no_figure_of_any_table(district, handler):
    """Every table of November, computed before and after steps taken on 12-01 that moved each case to another
    status (重新办理, 挂账, 结案, 作废, 不予受理) or another department (返工 of a handling, 退回 and a 派遣 to
    another department), has the same figures: each case is counted on every count by its status, its 核查, its
    返工 and its department at the month's end, and each 派遣 by whether it had been sent back by then. Before the
    steps the cases were last saved in November and are read from their fields; after them, from their timeline
    and clocks (`selectors.FactColumns`). The 派遣 of 12-01 is another dispatcher's: the case stays the first
    one's in November's dispatcher table."""
    d = district
    zj = user_with(Role.DEPARTMENT_HANDLER, department=d.other_dept, username="h-zj")  # 派遣 needs a handler there
    other_dispatcher = user_with(Role.COMMAND_DISPATCHER, region=d.tree["140213"], username="cd-b")
    Grant.objects.filter(user__in=(zj, other_dispatcher)).update(valid_from=moment(11, 1))
    closed = closed_on_time(d, handler, 27)
    overdue = reported(d, moment(11, 23, 9))  # dispatched, its handling deadline passed in November
    step(moment(11, 23, 9, 10), d.dispatcher, overdue, "accept")
    step(moment(11, 23, 9, 20), d.dispatcher, overdue, "dispatch", department=d.dept.pk)
    verified = reported(d, moment(11, 30, 9))  # handled and verified, not yet closed
    step(moment(11, 30, 9, 10), d.dispatcher, verified, "accept")
    step(moment(11, 30, 9, 20), d.dispatcher, verified, "dispatch", department=d.dept.pk)
    step(moment(11, 30, 10), handler, verified, "report_back", note="已补装")
    step(moment(11, 30, 11), d.worker, verified, "verify", photos=[jpeg()])
    waiting = reported(d, moment(11, 30, 9))  # accepted, waiting for its 派遣 (past the dispatch clock)
    step(moment(11, 30, 9, 10), d.dispatcher, waiting, "accept")
    undecided = reported(d, moment(11, 30, 9))  # not yet accepted: no 上报数 yet
    handled = reported(d, moment(11, 30, 9))  # handled, waiting for its 核查 (返工 on 12-01)
    step(moment(11, 30, 9, 10), d.dispatcher, handled, "accept")
    step(moment(11, 30, 9, 20), d.dispatcher, handled, "dispatch", department=d.dept.pk)
    step(moment(11, 30, 10), handler, handled, "report_back", note="已补装")
    misrouted = reported(d, moment(11, 30, 9))  # with 区城管局 (退回 and sent to 区住建局 on 12-01)
    step(moment(11, 30, 9, 10), d.dispatcher, misrouted, "accept")
    step(moment(11, 30, 9, 20), d.dispatcher, misrouted, "dispatch", department=d.dept.pk)
    cases = (closed, overdue, verified, waiting, undecided)
    at_the_end = {c.pk: c.status for c in cases}

    def tables() -> dict:
        return {kind: {r.code: (r.counts, r.rates, r.score, r.rank) for r in
                       selectors.evaluate(d.leader, kind, *NOVEMBER, as_of=moment(12, 2, 12)).rows}
                for kind in selectors.SUBJECTS}

    before = tables()
    step(moment(12, 1, 9), d.dispatcher, closed, "reopen", reason="又坏了")
    step(moment(12, 1, 9), d.dispatcher, overdue, "suspend", reason="等待预算")
    step(moment(12, 1, 9), d.dispatcher, verified, "close")
    step(moment(12, 1, 9), d.dispatcher, waiting, "void", reason="重复上报")
    step(moment(12, 1, 9), d.dispatcher, undecided, "refuse", reason="不属受理范围")
    step(moment(12, 1, 9), d.worker, handled, "rework", reason="仍有残留")
    step(moment(12, 1, 9), handler, misrouted, "send_back", reason="供水井盖归住建")
    step(moment(12, 1, 10), other_dispatcher, misrouted, "dispatch", department=d.other_dept.pk)
    for c in cases:
        c.refresh_from_db()
        assert c.status != at_the_end[c.pk] and c.updated_at >= moment(12, 1, 0), c.number
    handled.refresh_from_db()
    misrouted.refresh_from_db()
    assert handled.rework_count == 1 and handled.verified_on_time is not None  # a 核查, failed
    assert (misrouted.send_back_count, misrouted.department_id) == (1, d.other_dept.pk)

    after = tables()
    moved = {(kind, code, name): (n, after[kind][code][0][name]) for kind, rows in before.items()
             for code, (counts, *_) in rows.items() for name, n in counts.items() if after[kind][code][0][name] != n}
    assert moved == {}
    assert after == before  # and so the rates, scores and ranks
    dept = before["department"]["D-CG"][0]
    assert (dept["accepted"], dept["due_handle"], dept["handled"], dept["reworked"]) == (5, 4, 3, 0)
    assert (dept["due_close"], dept["closed"]) == (2, 1)
    assert before["department"]["D-ZJ"][0]["accepted"] == 0  # the case it was sent on 12-01 is December's
    assert (before["grid"][GRID][0]["due_close"], before["grid"][GRID][0]["verified"]) == (3, 2)
    dispatched = before["dispatcher"][d.dispatcher.username][0]
    assert (dispatched["dispatched"], dispatched["dispatch_acts"], dispatched["dispatch_rework"]) == (5, 5, 0)
    assert before["dispatcher"]["cd-b"][0]["dispatched"] == 0  # its 派遣 of 12-01 is December's


def test_the_moment_the_xlsx_shows_reproduces_its_table_to_the_fraction_of_a_second(district, handler, client):
    """A table is computed at a moment with fractions of a second (now, or an `as_of` as the API answers it); the
    xlsx's 统计于 showed it cut to the second, so typed back as `as_of` it recomputed an earlier table: a 重新办理
    0.3 s into that second was undone and the case read closed again. The 统计于 keeps the fraction."""
    from openpyxl import load_workbook

    d = district
    case = closed_on_time(d, handler, 13)
    reopened = moment(11, 13, 11, 31).replace(microsecond=300000)
    step(reopened, d.dispatcher, case, "reopen", reason="又坏了")
    client.force_login(d.leader)

    def sheet(as_of: str):
        response = client.get("/evaluation/export.xlsx", {"subject": "grid", "month": "2026-11", "as_of": as_of})
        assert response.status_code == 200, response.content
        book = load_workbook(io.BytesIO(response.content))
        header, first = list(book.worksheets[0].iter_rows(max_row=2, values_only=True))
        notes = dict(book.worksheets[1].iter_rows(values_only=True))
        return dict(zip(header, first, strict=True)), notes["统计于"]

    then, shown = sheet("2026-11-13T11:31:00.600000+08:00")
    assert (then["编码"], then["应结案数"], then["结案数"]) == (GRID, 1, 0)
    again, shown_again = sheet(shown.split("（")[0])
    assert (again, shown_again) == (then, shown)
    assert shown == "2026-11-13 11:31:00.600000（Asia/Shanghai）"
