"""The loop's task messages stop waiting once their step is taken: every message that asks its readers to do
something (新任务, 核实任务, 核查任务, 待结案, 退回, 督办, the step's warnings …) is settled, for every reader at once,
by the transition that takes the step (已处理) or makes it moot (已退回, 已作废, 已合并 …), in one UPDATE.

Also who is told: 督办 goes to whoever answers for the step the case waits for; 挂账 and 恢复办理 reach the
department's handlers; nobody is told of their own action; and the step's permission, not one role's name, picks
the field staff (community staff hold 核实/核查 as grid workers do)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.notify.services import notify
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.builders import user_with

from .conftest import jpeg, report, world_counts

pytestmark = pytest.mark.django_db

COMMUNITY = "140213050001"  # the community of the loop's grid


@pytest.fixture
def community(loop):
    """社区工作人员 of the case's community: holds 核实/核查 there, as the grid's worker does."""
    return user_with(Role.COMMUNITY_STAFF, region=loop.tree[COMMUNITY], username="sq")


def _about(case, kind: str):
    return Notification.objects.filter(target_type="cases.case", target_id=str(case.pk), kind=kind)


def _who(case, kind: str) -> set[int]:
    return set(_about(case, kind).values_list("user_id", flat=True))


def _state(case, kind: str) -> dict[int, tuple[bool, str]]:
    """Each reader's message of `kind` about `case`: (read, resolution)."""
    return {user: (read is not None, resolution) for user, read, resolution in
            _about(case, kind).values_list("user_id", "read_at", "resolution")}


def _settled(case, kind: str, resolution: str, users) -> None:
    assert _state(case, kind) == {u.pk: (True, resolution) for u in users}
    assert not _about(case, kind).filter(resolved_at__isnull=True).exists()


def _waiting(case, kind: str, users) -> None:
    assert _state(case, kind) == {u.pk: (False, "") for u in users}


def _everything():
    return list(Notification.objects.order_by("pk").values_list("pk", "read_at", "resolved_at", "resolution"))


def _dispatched(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def test_supervise_report_back_verify_close_leaves_no_task_waiting(loop, community):
    case = _dispatched(loop)
    other = _dispatched(loop)  # another case's messages to the same people are other work
    act(actor=loop.leader, case=other, action="supervise", note="另一件")
    untouched = list(Notification.objects.filter(target_id=str(other.pk)).values_list("pk", "read_at", "resolution"))
    _waiting(case, "new_task", [loop.handler])

    act(actor=loop.leader, case=case, action="supervise", note="今天必须处理")
    _waiting(case, "supervise", [loop.handler])  # being handled: the handlers answer for it
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    _settled(case, "new_task", "已处理", [loop.handler])
    _settled(case, "supervise", "已处理", [loop.handler])
    # 核查 is asked of everyone holding it over the grid: its grid worker and the community's staff
    _waiting(case, "verify_task", [loop.worker, community])

    act(actor=community, case=case, action="verify", photos=[jpeg()])
    _settled(case, "verify_task", "已处理", [loop.worker, community])  # one verified: nobody's task any more
    _waiting(case, "close_task", [loop.dispatcher, loop.street_dispatcher])

    act(actor=loop.leader, case=case, action="supervise", note="尽快结案")
    # 待结案: the dispatchers who close it are told, not the handlers who can do nothing now
    assert _who(case, "supervise") == {loop.handler.pk, loop.dispatcher.pk, loop.street_dispatcher.pk}
    state = _state(case, "supervise")
    assert state[loop.dispatcher.pk] == state[loop.street_dispatcher.pk] == (False, "")
    assert state[loop.handler.pk] == (True, "已处理")  # the first 督办, settled when they reported back
    reporter_news = list(Notification.objects.filter(user=loop.worker, kind="status").values_list("pk", "read_at"))

    act(actor=loop.street_dispatcher, case=case, action="close")
    _settled(case, "close_task", "已处理", [loop.dispatcher, loop.street_dispatcher])
    _settled(case, "supervise", "已处理", [loop.handler, loop.dispatcher, loop.street_dispatcher])
    assert not Notification.objects.filter(target_id=str(case.pk), kind__in=(
        "new_task", "supervise", "verify_task", "close_task"), read_at__isnull=True).exists()
    # informational messages stay as they are (the reporter's progress news), and so does the other case's work
    assert reporter_news and all(read is None for _pk, read in reporter_news)
    assert list(Notification.objects.filter(pk__in=[pk for pk, _read in reporter_news]).order_by("-created_at", "-id")
                .values_list("pk", "read_at")) == reporter_news
    assert list(Notification.objects.filter(target_id=str(other.pk)).values_list("pk", "read_at", "resolution")) \
        == untouched


def test_a_send_back_settles_the_departments_task_and_one_redispatch_settles_both_dispatchers(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="等材料", hours=8)
    act(actor=loop.handler, case=case, action="send_back", reason="不属于本部门")
    _settled(case, "new_task", "已退回", [loop.handler])  # out of their hands (and scope) now: not their work
    _settled(case, "extension_request", "已撤销", [loop.dispatcher, loop.leader])
    _waiting(case, "sent_back", [loop.dispatcher, loop.street_dispatcher])

    act(actor=loop.street_dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    _settled(case, "sent_back", "已处理", [loop.dispatcher, loop.street_dispatcher])
    assert _state(case, "new_task")[loop.other_handler.pk] == (False, "")  # the new department's task waits


def test_rework_settles_the_check_and_the_next_report_back_settles_the_rework(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    act(actor=loop.worker, case=case, action="rework", reason="没有清理干净")
    _settled(case, "verify_task", "已处理", [loop.worker])
    _waiting(case, "rework", [loop.handler])
    act(actor=loop.handler, case=case, action="report_back", note="重新清理")
    _settled(case, "rework", "已处理", [loop.handler])
    assert _state(case, "verify_task")[loop.worker.pk] == (True, "已处理")
    assert _about(case, "verify_task").filter(resolved_at__isnull=True).count() == 1  # the second 核查 waits


def test_a_check_is_settled_by_its_answer_and_the_answer_by_intake(loop, community):
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="check_request")
    _waiting(case, "check_task", [loop.worker, community])  # not the neighbouring grid's worker
    act(actor=community, case=case, action="check_result", result="confirmed")
    _settled(case, "check_task", "已处理", [loop.worker, community])
    _waiting(case, "check_done", [loop.dispatcher, loop.street_dispatcher])
    act(actor=loop.street_dispatcher, case=case, action="accept")
    _settled(case, "check_done", "已处理", [loop.dispatcher, loop.street_dispatcher])


@pytest.mark.parametrize(("action", "inputs", "resolution"), [
    ("void", {"reason": "重复上报"}, "已作废"),
    ("refuse", {"reason": "不属于受理范围"}, "不予受理"),
    ("merge", {}, "已合并"),
])
def test_a_check_made_moot_says_why(loop, action, inputs, resolution):
    parent = report(loop)
    case = report(loop, title="门口垃圾")
    act(actor=loop.dispatcher, case=case, action="check_request")
    act(actor=loop.leader, case=case, action="supervise", note="请尽快核实")
    _waiting(case, "supervise", [loop.worker])  # 核实 is the grid's work
    if action == "merge":
        inputs = {"parent": parent.number}
    act(actor=loop.dispatcher, case=case, action=action, **inputs)
    _settled(case, "check_task", resolution, [loop.worker])
    _settled(case, "supervise", resolution, [loop.worker])


def test_a_refused_step_settles_nothing(loop):
    case = _dispatched(loop)
    act(actor=loop.leader, case=case, action="supervise", note="抓紧")
    before, messages = world_counts(), _everything()
    with pytest.raises(ValidationFailed):
        act(actor=loop.handler, case=case, action="send_back", reason="退回", proposed_department=loop.dept.pk)
    assert world_counts() == before and _everything() == messages


def test_the_steps_warnings_are_settled_with_it_and_the_leaders_news_is_not(loop):
    case = _dispatched(loop)
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle")
    bus.dispatch_pending()
    sweep(now=clock.warn_at + timedelta(seconds=1))
    sweep(now=clock.due_at + timedelta(seconds=1))
    bus.dispatch_pending()
    _waiting(case, "warning", [loop.handler])
    _waiting(case, "overdue", [loop.handler])
    _waiting(case, "auto_supervise", [loop.leader])
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    _settled(case, "warning", "已处理", [loop.handler])
    _settled(case, "overdue", "已处理", [loop.handler])
    _waiting(case, "auto_supervise", [loop.leader])  # for the leaders' information: left as it is


def test_community_staff_hear_of_the_verify_steps_deadline_as_grid_workers_do(loop, community):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    clock = SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.verify")
    bus.dispatch_pending()
    sweep(now=clock.warn_at + timedelta(seconds=1))
    sweep(now=clock.due_at + timedelta(seconds=1))
    bus.dispatch_pending()
    assert _who(case, "warning") == _who(case, "overdue") == {loop.worker.pk, community.pk}
    assert loop.neighbour_worker.pk not in _who(case, "verify_task")


def test_settling_is_one_update_however_many_messages_and_none_for_a_step_that_settles_nothing(loop, community):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="start")
    act(actor=loop.leader, case=case, action="supervise", note="抓紧")
    act(actor=loop.handler, case=case, action="request_extension", reason="等材料", hours=8)
    for _ in range(3):
        notify(loop.handler, "warning", f"处置即将超期：{case.number}", target=case)

    def updates(sql: list[str]) -> list[str]:
        return [q for q in sql if q.startswith("UPDATE") and "notify_notification" in q]

    with CaptureQueriesContext(connection) as progress:
        act(actor=loop.handler, case=case, action="progress", note="正在清理")
    assert updates([q["sql"] for q in progress.captured_queries]) == []
    with CaptureQueriesContext(connection) as done:
        act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert len(updates([q["sql"] for q in done.captured_queries])) == 1
    _settled(case, "new_task", "已处理", [loop.handler])
    _settled(case, "supervise", "已处理", [loop.handler])
    _settled(case, "extension_request", "已撤销", [loop.dispatcher, loop.leader])  # its own word, same UPDATE
    assert set(_about(case, "warning").values_list("resolution", flat=True)) == {"已处理"}


@pytest.mark.parametrize(("status", "expected"), [
    ("reported", {"dispatcher", "street_dispatcher"}),
    ("checking", {"worker", "community"}),
    ("accepted", {"dispatcher", "street_dispatcher"}),
    ("dispatched", {"handler"}),
    ("handled", {"worker", "community"}),
    ("verified", {"dispatcher", "street_dispatcher"}),
])
def test_supervising_tells_whoever_answers_for_the_step_the_case_waits_for(loop, community, status, expected):
    case = report(loop)
    steps = {"checking": [("dispatcher", "check_request", {})],
             "accepted": [("dispatcher", "accept", {})],
             "dispatched": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk})],
             "handled": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk}),
                         ("handler", "report_back", {"note": "已清理"})],
             "verified": [("dispatcher", "accept", {}), ("dispatcher", "dispatch", {"department": loop.dept.pk}),
                          ("handler", "report_back", {"note": "已清理"}), ("worker", "verify", {"photos": [jpeg()]})]}
    for who, name, inputs in steps.get(status, []):
        case = act(actor=getattr(loop, who), case=case, action=name, **inputs)
    assert case.status == status
    act(actor=loop.leader, case=case, action="supervise", note="请抓紧")
    people = {"community": community, **{name: getattr(loop, name) for name in
                                         ("dispatcher", "street_dispatcher", "worker", "handler")}}
    assert _who(case, "supervise") == {people[name].pk for name in expected}


def test_suspending_and_resuming_tell_the_departments_handlers(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="等待配件", hours=8)
    act(actor=loop.leader, case=case, action="suspend", reason="等待专项资金")
    told = Notification.objects.get(user=loop.handler, kind="suspended")
    assert told.title == f"挂账：{case.number}"
    assert told.body == ("暂缓办理，各项时限暂停：等待专项资金；待审批的延期申请（8 小时）已撤销，"
                         "恢复办理后如仍需延期请重新申请")
    assert told.body_en == ("on hold, every time limit paused: 等待专项资金; the waiting extension request (8 h) was "
                            "withdrawn: ask again once handling resumes if more time is still needed")
    assert not Notification.objects.filter(user=loop.leader, kind="suspended").exists()

    case = act(actor=loop.dispatcher, case=case, action="unsuspend")
    resumed = Notification.objects.get(user=loop.handler, kind="unsuspended")
    due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    assert resumed.title == f"恢复办理：{case.number}"
    assert resumed.body == f"恢复办理，各项时限继续计算，处置期限 {due}；挂账时撤销的延期申请（8 小时）如仍需要，请重新申请"
    assert resumed.body_en == (f"handling resumes, every time limit runs again, handling deadline {due}; the extension "
                               f"request (8 h) withdrawn on suspending must be made again if still needed")
    assert _who(case, "unsuspended") == {loop.handler.pk}



def test_the_approvers_words_on_resuming_are_not_read_as_the_withdrawn_requests(loop):
    """恢复办理 with a note, after 挂账 withdrew a waiting 延期 request: the department reads the approver's words
    beside the resumption, and the advice about the withdrawn request after them (the words were appended after
    "如仍需要，请重新申请：", where they read as what to ask for)."""
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="等待配件", hours=8)
    act(actor=loop.leader, case=case, action="suspend", reason="等待专项资金")
    case = act(actor=loop.dispatcher, case=case, action="unsuspend", note="资金已到位")
    resumed = Notification.objects.get(user=loop.handler, kind="unsuspended")
    due = f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
    assert resumed.body == (f"恢复办理，各项时限继续计算，处置期限 {due}：资金已到位；"
                            f"挂账时撤销的延期申请（8 小时）如仍需要，请重新申请")
    assert resumed.body_en == (f"handling resumes, every time limit runs again, handling deadline {due}: 资金已到位; "
                               f"the extension request (8 h) withdrawn on suspending must be made again if still "
                               f"needed")

def test_suspending_without_a_request_tells_just_that_and_a_refused_suspend_tells_nobody(loop):
    case = _dispatched(loop)
    before = world_counts()
    with pytest.raises(ValidationFailed):
        act(actor=loop.leader, case=case, action="suspend", reason="")
    assert world_counts() == before
    act(actor=loop.leader, case=case, action="suspend", reason="等待专项资金")
    told = Notification.objects.get(user=loop.handler, kind="suspended")
    assert (told.body, told.body_en) == ("暂缓办理，各项时限暂停：等待专项资金", "on hold, every time limit paused: 等待专项资金")


def test_nobody_is_told_of_their_own_action(loop):
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    act(actor=loop.worker, case=case, action="verify", photos=[jpeg()])
    act(actor=loop.dispatcher, case=case, action="close")
    act(actor=loop.dispatcher, case=case, action="reopen", reason="又堆上了")
    # the other dispatchers are asked to dispatch it again: not the one who reopened it, nor yet the department
    assert _who(case, "reopened") == {loop.street_dispatcher.pk}

    # A leader who also dispatches supervises a case waiting to be closed: the other dispatchers are told.
    both = user_with(Role.LEADER, region=loop.tree["140213"], username="ld2")
    from civicgrid.foundation.access.models import Grant

    Grant.objects.create(user=both, role=Role.COMMAND_DISPATCHER, region=loop.tree["140213"])
    second = _dispatched(loop)
    act(actor=loop.handler, case=second, action="report_back", note="已清理")
    act(actor=loop.worker, case=second, action="verify", photos=[jpeg()])
    assert both.pk in _who(second, "close_task")
    act(actor=both, case=second, action="supervise", note="今天结案")
    assert _who(second, "supervise") == {loop.dispatcher.pk, loop.street_dispatcher.pk}
