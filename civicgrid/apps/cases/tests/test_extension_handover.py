"""A 延期 request belongs to the handling it was asked for: when the case leaves that handling (退回, 挂账,
处置反馈) the request ends with it, nobody is offered a decision on it, and the approvers' messages about it stop
waiting. The next department asks for its own time."""

from __future__ import annotations

import pytest

from civicgrid.apps.cases.models import Case, Status
from civicgrid.apps.cases.selectors import CaseFilter, case_list, my_work
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.workflow import CASE_WORKFLOW
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.notify.models import Notification

from .conftest import report, world_counts

pytestmark = pytest.mark.django_db


def _dispatched(loop, department=None) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=(department or loop.dept).pk)
    return case


def _waiting_lane(user) -> int:
    return next(lane["count"] for lane in my_work(user) if lane["key"] == "extension")


def _unread_requests(case) -> int:
    return Notification.objects.filter(target_id=str(case.pk), kind="extension_request", read_at__isnull=True).count()


def _names(case, user) -> list[str]:
    return [t.name for t in CASE_WORKFLOW.allowed(Case.objects.get(pk=case.pk), user)]


def test_a_send_back_ends_the_departments_extension_request(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", hours=8, reason="需要协调清运车辆")
    assert _waiting_lane(loop.dispatcher) == 1 and _unread_requests(case) == 2  # the dispatcher and the leader

    act(actor=loop.handler, case=case, action="send_back", reason="属住建局管辖", proposed_department=loop.other_dept.pk)

    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.extension_pending is False and case.extension_hours is None
    assert case.steps.last().data["extension_dropped"] == 8
    # nothing waits for the approvers any more: not on their home page, not in the lane's list, not in the inbox
    assert _waiting_lane(loop.dispatcher) == 0 and _waiting_lane(loop.leader) == 0
    assert not case_list(loop.dispatcher, CaseFilter(work="extension")).exists()
    assert _unread_requests(case) == 0
    first = Notification.objects.filter(target_id=str(case.pk), kind="extension_request")
    assert [n.resolution for n in first] == ["已撤销", "已撤销"]  # kept, read, and saying why nothing waits
    first_ids = set(first.values_list("pk", flat=True))

    # the next department asks for its own time, and the decision is about its request
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    assert "decide_extension" not in _names(case, loop.dispatcher)
    assert "request_extension" in _names(case, loop.other_handler)
    act(actor=loop.other_handler, case=case, action="request_extension", hours=8, reason="等待材料")
    act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
    case.refresh_from_db()
    assert case.steps.last().data["hours"] == 8
    told = Notification.objects.get(user=loop.other_handler, kind="extension_decided")
    assert told.title.startswith("延期申请同意") and "8 小时" in told.body
    assert not Notification.objects.filter(user=loop.handler, kind="extension_decided").exists()
    # the approval settled the second request's messages only; the lapsed ones still say 已撤销
    settled = Notification.objects.filter(target_id=str(case.pk), kind="extension_request")
    assert {n.pk: n.resolution for n in settled if n.pk in first_ids} == dict.fromkeys(first_ids, "已撤销")
    assert {n.resolution for n in settled if n.pk not in first_ids} == {"已同意"}


def test_a_refused_send_back_keeps_the_request_waiting(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", hours=8, reason="需要协调清运车辆")
    before = world_counts()
    with pytest.raises(ValidationFailed):  # it cannot propose itself: the whole action is refused
        act(actor=loop.handler, case=case, action="send_back", reason="退回", proposed_department=loop.dept.pk)
    assert world_counts() == before
    case.refresh_from_db()
    assert case.extension_pending is True and case.extension_hours == 8 and _unread_requests(case) == 2


def test_suspending_ends_the_request_and_after_resuming_the_department_asks_again(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", hours=8, reason="等待配件")
    act(actor=loop.leader, case=case, action="suspend", reason="等待专项资金")
    case.refresh_from_db()
    assert case.extension_pending is False and case.steps.last().data["extension_dropped"] == 8
    assert _waiting_lane(loop.dispatcher) == 0 and _unread_requests(case) == 0

    act(actor=loop.dispatcher, case=case, action="unsuspend")
    assert "request_extension" in _names(case, loop.handler)
    assert "decide_extension" not in _names(case, loop.dispatcher)


def test_reporting_back_closes_the_approvers_messages_about_the_request(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", hours=4, reason="等待配件")
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    case.refresh_from_db()
    assert case.extension_pending is False and case.steps.last().data["extension_dropped"] == 4
    assert _unread_requests(case) == 0 and _waiting_lane(loop.leader) == 0


def test_a_dispatch_clears_a_request_left_over_from_an_earlier_assignment(loop):
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    # a case sent back before send-backs ended the request (data written by an earlier version)
    Case.objects.filter(pk=case.pk).update(extension_pending=True, extension_hours=48)
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    case.refresh_from_db()
    assert case.extension_pending is False and case.extension_hours is None
    assert "request_extension" in _names(case, loop.other_handler)
