"""Cases taken through the real services (report, 核实, 立案, 派遣, 处置, 核查, 结案; 不予受理; 自行处置) land in
every ranking table with the facts the loop recorded."""

from __future__ import annotations

import io
from datetime import timedelta
from fractions import Fraction

import pytest
from django.utils import timezone
from PIL import Image

from civicgrid.apps.cases.services import act, submit_case
from civicgrid.apps.evaluation import selectors
from civicgrid.dashboards.command.selectors import today_figures
from civicgrid.foundation.access.models import User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.events import bus
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.builders import category, user_with

pytestmark = pytest.mark.django_db
POINT = (113.21, 40.01)  # grid 140213050001001 of the builders' tree


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 160, 60)).save(buf, "JPEG")
    return buf.getvalue()


def test_cases_through_the_loop_are_evaluated(district):
    d = district
    handler = user_with(Role.DEPARTMENT_HANDLER, department=d.dept, username="h-cg")

    case, _ = submit_case(actor=d.worker, title="井盖缺失", lng=POINT[0], lat=POINT[1], source="grid_worker",
                          category=category("井盖缺失", "01001").pk)
    act(actor=d.dispatcher, case=case, action="check_request")
    act(actor=d.worker, case=case, action="check_result", result="confirmed")
    act(actor=d.dispatcher, case=case, action="accept")
    act(actor=d.dispatcher, case=case, action="dispatch", department=d.dept.pk)
    act(actor=handler, case=case, action="start")
    act(actor=handler, case=case, action="report_back", note="已补装")
    act(actor=d.worker, case=case, action="verify", photos=[jpeg()])
    act(actor=d.dispatcher, case=case, action="close")

    refused, _ = submit_case(actor=d.worker, title="重复上报", lng=POINT[0], lat=POINT[1], source="grid_worker")
    act(actor=d.dispatcher, case=refused, action="refuse", reason="不属实")
    submit_case(actor=d.worker, title="小广告", lng=POINT[0], lat=POINT[1], source="grid_worker",
                self_handled=True, photos=[("after", jpeg())], category=category("井盖缺失", "01001").pk)

    today = timezone.localdate()

    def row(kind, code):
        ev = selectors.evaluate(d.leader, kind, today, today)
        return next(r for r in ev.rows if r.code == code)

    dept = row("department", "D-CG")
    assert dept.counts == {"closed": 1, "due_close": 1, "handled_timely": 1, "due_handle": 1, "reworked": 0,
                           "handled": 1, "accepted": 1}
    assert dept.score == 100 and dept.grade == "A"

    grid = row("grid", "140213050001001")
    assert grid.counts["reports"] == 3 and grid.counts["valid_reports"] == 2 and grid.counts["closed"] == 2
    assert grid.counts["closed_timely"] == 2 and grid.counts["verified"] == 1
    assert grid.grade == "A"

    worker = row("grid_worker", "wg1")
    assert worker.counts["reports"] == 3 and worker.counts["valid_reports"] == 2
    assert worker.counts["checked"] == worker.counts["checked_timely"] == 1

    assert row("dispatcher", "cd").counts == {"dispatched_timely": 1, "dispatched": 1, "due_dispatch": 1,
                                              "dispatch_acts": 1, "due_dispatch_acts": 1, "dispatch_rework": 0}
    intake = row("intake", "cd")
    assert intake.counts["check_sent"] == intake.counts["check_sent_timely"] == 1
    assert row("shift_lead", "cd").grade == "A"
    assert row("street", "140213050").counts["reports"] == 3


def test_a_wrong_dispatch_counts_against_the_dispatcher_who_made_it(district):
    """准确派遣率 = (派遣数 − 返工数) / 应派遣数 per dispatch: A sends the case to the wrong department, which sends it
    back; B re-dispatches it correctly. The send-back is A's, not B's (it used to be B's, the last dispatcher's)."""
    d = district
    b = user_with(Role.COMMAND_DISPATCHER, region=d.tree["140213"], username="cd-b")
    wrong = user_with(Role.DEPARTMENT_HANDLER, department=d.dept, username="h-cg")
    user_with(Role.DEPARTMENT_HANDLER, department=d.other_dept, username="h-zj")
    case, _ = submit_case(actor=d.worker, title="供水井盖破损", lng=POINT[0], lat=POINT[1], source="grid_worker",
                          category=category("井盖缺失", "01001").pk)
    act(actor=d.dispatcher, case=case, action="accept")
    act(actor=d.dispatcher, case=case, action="dispatch", department=d.dept.pk)
    act(actor=wrong, case=case, action="send_back", reason="供水井盖归住建")
    act(actor=b, case=case, action="dispatch", department=d.other_dept.pk)
    # a second case A dispatches right the first time
    other, _ = submit_case(actor=d.worker, title="路灯不亮", lng=POINT[0], lat=POINT[1], source="grid_worker",
                           category=category("路灯", "01002").pk)
    act(actor=d.dispatcher, case=other, action="accept")
    act(actor=d.dispatcher, case=other, action="dispatch", department=d.dept.pk)

    today = timezone.localdate()
    rows = {r.code: r for r in selectors.evaluate(d.leader, "dispatcher", today, today).rows}
    a_row, b_row = rows["cd"], rows["cd-b"]
    assert a_row.counts == {"dispatched_timely": 1, "dispatched": 1, "due_dispatch": 1, "dispatch_acts": 2,
                            "due_dispatch_acts": 2, "dispatch_rework": 1}
    assert a_row.rates["accurate_dispatch_rate"] == Fraction(1, 2)
    assert b_row.counts == {"dispatched_timely": 1, "dispatched": 1, "due_dispatch": 1, "dispatch_acts": 1,
                            "due_dispatch_acts": 1, "dispatch_rework": 0}
    assert b_row.rates["accurate_dispatch_rate"] == 1
    # reopening and dispatching again is no wrong dispatch: B's second dispatch counts, right
    h_zj = user_with(Role.DEPARTMENT_HANDLER, department=d.other_dept, username="h-zj2")
    act(actor=h_zj, case=case, action="report_back", note="已更换")
    act(actor=d.worker, case=case, action="verify", photos=[jpeg()])
    act(actor=d.dispatcher, case=case, action="close")
    act(actor=d.dispatcher, case=case, action="reopen", reason="又坏了")
    act(actor=b, case=case, action="dispatch", department=d.other_dept.pk)
    rows = {r.code: r for r in selectors.evaluate(d.leader, "dispatcher", today, today).rows}
    assert (rows["cd"].counts["dispatch_acts"], rows["cd"].counts["dispatch_rework"]) == (2, 1)
    assert (rows["cd-b"].counts["dispatch_acts"], rows["cd-b"].counts["dispatch_rework"]) == (2, 0)


def test_a_redirect_counts_against_the_dispatch_it_corrects_as_a_send_back_does(district):
    """改派 is a dispatch redone, as 退回 is: A's dispatch to the wrong department counts as 派遣返工 whether the
    department sends it back or B redirects it; B's redirect is a dispatch of B's, right (it stuck)."""
    d = district
    b = user_with(Role.COMMAND_DISPATCHER, region=d.tree["140213"], username="cd-b")
    user_with(Role.DEPARTMENT_HANDLER, department=d.dept, username="h-cg")
    user_with(Role.DEPARTMENT_HANDLER, department=d.other_dept, username="h-zj")
    case, _ = submit_case(actor=d.worker, title="供水井盖破损", lng=POINT[0], lat=POINT[1], source="grid_worker",
                          category=category("井盖缺失", "01001").pk)
    act(actor=d.dispatcher, case=case, action="accept")
    act(actor=d.dispatcher, case=case, action="dispatch", department=d.dept.pk)
    act(actor=b, case=case, action="redirect", department=d.other_dept.pk, reason="供水井盖归住建")

    today = timezone.localdate()
    rows = {r.code: r for r in selectors.evaluate(d.leader, "dispatcher", today, today).rows}
    assert (rows["cd"].counts["dispatch_acts"], rows["cd"].counts["dispatch_rework"]) == (1, 1)
    assert rows["cd"].rates["accurate_dispatch_rate"] == 0
    assert (rows["cd-b"].counts["dispatch_acts"], rows["cd-b"].counts["dispatch_rework"]) == (1, 0)
    assert rows["cd-b"].counts["dispatched"] == 1 and rows["cd-b"].rates["accurate_dispatch_rate"] == 1
    # redirected by A itself: still A's wrong dispatch, and A's redirect is a dispatch of A's
    act(actor=d.dispatcher, case=case, action="redirect", department=d.dept.pk, reason="还是城管")
    rows = {r.code: r for r in selectors.evaluate(d.leader, "dispatcher", today, today).rows}
    assert (rows["cd"].counts["dispatch_acts"], rows["cd"].counts["dispatch_rework"]) == (2, 1)
    assert (rows["cd-b"].counts["dispatch_acts"], rows["cd-b"].counts["dispatch_rework"]) == (1, 1)


def test_a_late_handling_stays_late_through_a_rework_in_time(district):
    """The department handles late (超期, auto 督办), 核查 fails, the rework is done in time and the case closes:
    within that assignment the handling was late, so it is neither 按期处置 nor 按期结案, in the evaluation and
    on the command board, also once the case is reopened (the board then reads the clocks)."""
    d = district
    handler = user_with(Role.DEPARTMENT_HANDLER, department=d.dept, username="h-cg")
    case, _ = submit_case(actor=d.worker, title="暴露垃圾", lng=POINT[0], lat=POINT[1], source="grid_worker",
                          category=category("暴露垃圾", "06001").pk)
    act(actor=d.dispatcher, case=case, action="accept")
    case = act(actor=d.dispatcher, case=case, action="dispatch", department=d.dept.pk)
    SlaClock.objects.filter(target_id=str(case.pk), kind="case.handle").update(
        due_at=timezone.now() - timedelta(minutes=1), warn_at=timezone.now() - timedelta(minutes=2))
    sweep(now=timezone.now())
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.is_overdue and case.is_supervised
    act(actor=handler, case=case, action="report_back", note="迟了")
    act(actor=d.worker, case=case, action="rework", reason="仍有残留")
    act(actor=handler, case=case, action="report_back", note="返工完成")  # in time
    act(actor=d.worker, case=case, action="verify", photos=[jpeg()])
    case = act(actor=d.dispatcher, case=case, action="close")
    assert case.closed_on_time is True

    today = timezone.localdate()
    dept = next(r for r in selectors.evaluate(d.leader, "department", today, today).rows if r.code == "D-CG")
    assert (dept.counts["handled"], dept.counts["handled_timely"], dept.counts["reworked"]) == (1, 0, 1)
    grid = next(r for r in selectors.evaluate(d.leader, "grid", today, today).rows if r.code == case.region_code)
    assert (grid.counts["closed"], grid.counts["closed_timely"]) == (1, 0)
    board = today_figures(User.objects.get(pk=d.dispatcher.pk))
    assert (board.closed, board.closed_timely, board.timely_closure_rate) == (1, 0, 0.0)
    act(actor=d.dispatcher, case=case, action="reopen", reason="又堆起来了")
    board = today_figures(User.objects.get(pk=d.dispatcher.pk))
    assert (board.closed, board.closed_timely) == (1, 0)


def _handlers(d):
    """A handler of 区城管局 and one of 区住建局 (each department told of its steps has somebody to tell)."""
    return (user_with(Role.DEPARTMENT_HANDLER, department=d.dept, username="h-cg"),
            user_with(Role.DEPARTMENT_HANDLER, department=d.other_dept, username="h-zj"))


def _dispatched_to_cg(d, *, late: bool = False):
    """A 供水井盖 report, accepted and dispatched to 区城管局 (`late`: its handling deadline already passed)."""
    case, _ = submit_case(actor=d.worker, title="供水井盖破损", lng=POINT[0], lat=POINT[1], source="grid_worker",
                          category=category("井盖缺失", "01001").pk)
    act(actor=d.dispatcher, case=case, action="accept")
    case = act(actor=d.dispatcher, case=case, action="dispatch", department=d.dept.pk)
    if late:
        SlaClock.objects.filter(target_id=str(case.pk), kind="case.handle").update(
            due_at=timezone.now() - timedelta(minutes=1), warn_at=timezone.now() - timedelta(minutes=2))
        case.refresh_from_db()
    return case


def _move_to_zj(d, case, move: str, cg) -> None:
    """The case leaves 区城管局 for 区住建局: 改派 by the dispatcher, or 退回 by 区城管局 and 派遣 again."""
    if move == "redirect":
        act(actor=d.dispatcher, case=case, action="redirect", department=d.other_dept.pk, reason="供水井盖归住建")
    else:
        act(actor=cg, case=case, action="send_back", reason="供水井盖归住建")
        act(actor=d.dispatcher, case=case, action="dispatch", department=d.other_dept.pk)


@pytest.mark.parametrize("move", ["redirect", "send_back"])
def test_a_handling_and_rework_stay_with_the_department_that_did_them(district, move):
    """区城管局 handles the case, 核查 fails (返工), and the case leaves it (改派 by a dispatcher, or 退回 by 区城管局
    and 派遣 to 区住建局). 区住建局 has only just got it: no 处置, no 返工 and nothing due of its own (it used to be
    charged 应处置 1, 处置 1, 按期处置 0 and 返工 1, a 返工率 of 100 %, for 区城管局's work); once it handles the
    case in time, that is its 处置, in time, and no 返工."""
    d = district
    cg, zj = _handlers(d)
    case = _dispatched_to_cg(d)
    act(actor=cg, case=case, action="report_back", note="已处置")
    act(actor=d.worker, case=case, action="rework", reason="未修好")
    _move_to_zj(d, case, move, cg)

    today = timezone.localdate()

    def counts(code):
        return next(r for r in selectors.evaluate(d.leader, "department", today, today).rows
                    if r.code == code).counts

    nothing_yet = {"accepted": 1, "due_handle": 0, "handled": 0, "handled_timely": 0, "reworked": 0,
                   "due_close": 0, "closed": 0}
    assert counts("D-ZJ") == nothing_yet
    act(actor=zj, case=case, action="report_back", note="已更换")
    assert counts("D-ZJ") == {**nothing_yet, "due_handle": 1, "handled": 1, "handled_timely": 1}


@pytest.mark.parametrize("move", ["redirect", "send_back"])
def test_a_department_is_not_due_for_the_lateness_of_the_one_before(district, move):
    """区城管局 lets its handling deadline pass, and the case leaves it (改派, or 退回 and 派遣 to 区住建局), which
    has a fresh deadline ahead: 区住建局 owes no 处置 yet (it used to be 应处置 1 and 按期处置 0 for 区城管局's
    lateness). The case is still due to close (应结案) for its grid: it can no longer close in time."""
    d = district
    cg, _zj = _handlers(d)
    case = _dispatched_to_cg(d, late=True)
    _move_to_zj(d, case, move, cg)

    today = timezone.localdate()
    zj = next(r for r in selectors.evaluate(d.leader, "department", today, today).rows if r.code == "D-ZJ")
    assert (zj.counts["due_handle"], zj.counts["handled"], zj.counts["handled_timely"]) == (0, 0, 0)
    grid = next(r for r in selectors.evaluate(d.leader, "grid", today, today).rows if r.code == case.region_code)
    assert grid.counts["due_close"] == 1


def test_a_redirected_case_handled_in_time_is_in_time_as_it_stood_then(district):
    """区城管局 lets its handling deadline pass and the case is redirected (改派) to 区住建局, which reports back in
    time. Read as it stood then (the 核查 since moved it on, so its clocks are read), 区住建局's handling is in
    time: the round is its own, since the 改派, not 区城管局's late clock (it used to read 按期处置 0)."""
    d = district
    _cg, zj = _handlers(d)
    case = _dispatched_to_cg(d, late=True)
    _move_to_zj(d, case, "redirect", None)
    act(actor=zj, case=case, action="report_back", note="已更换")
    then = timezone.now() + timedelta(microseconds=1)
    while timezone.now() <= then:
        pass
    act(actor=d.worker, case=case, action="verify", photos=[jpeg()])

    today = timezone.localdate()
    for as_of in (then, None):
        ev = selectors.evaluate(d.leader, "department", today, today, as_of=as_of)
        row = next(r for r in ev.rows if r.code == "D-ZJ")
        assert (row.counts["due_handle"], row.counts["handled"], row.counts["handled_timely"]) == (1, 1, 1), as_of


def test_the_board_reads_a_redirected_round_as_its_own_after_a_reopen(district):
    """区城管局 lets its deadline pass, the case is redirected (改派) to 区住建局, which handles it in time, and it
    is closed in time: 按期结案 on the board, also once the case is reopened and the board reads the clocks (it
    read 区城管局's late clock, stopped by the 改派, into 区住建局's round)."""
    d = district
    _cg, zj = _handlers(d)
    case = _dispatched_to_cg(d, late=True)
    _move_to_zj(d, case, "redirect", None)
    act(actor=zj, case=case, action="report_back", note="已更换")
    act(actor=d.worker, case=case, action="verify", photos=[jpeg()])
    case = act(actor=d.dispatcher, case=case, action="close")
    assert case.closed_on_time is True and case.handled_on_time is True
    board = today_figures(User.objects.get(pk=d.dispatcher.pk))
    assert (board.closed, board.closed_timely) == (1, 1)
    act(actor=d.dispatcher, case=case, action="reopen", reason="又坏了")
    board = today_figures(User.objects.get(pk=d.dispatcher.pk))
    assert (board.closed, board.closed_timely) == (1, 1)
