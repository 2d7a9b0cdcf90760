"""延期 is asked for within the handling time limit. A department already late cannot ask for one (a clear
refusal, nothing changed, no button): a fresh deadline would otherwise clear its lateness from 按期处置 and the
board's overdue list. A request made in time may still be decided after the deadline has passed (the department
asked in time; the approver's delay is not its lateness). The decision carries the approver's opinion (required
to refuse) and the hours granted (up to those asked for).

Every step runs on Django's clock moved to fixed instants (`clock_at`): the working-time arithmetic does not
depend on the hour the suite runs at."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.apps.cases.workflow import CASE_WORKFLOW
from civicgrid.apps.evaluation.selectors import counts_q
from civicgrid.foundation.core.errors import Conflict, ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.services import get_calendar
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.clock import clock_at

from .conftest import auth, report, world_counts

pytestmark = pytest.mark.django_db

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def dispatched_at(loop) -> datetime:
    """09:30 on a working day some days ahead of the real clock (what was set up just now, accounts and their
    grants, is there then), whatever the hour the suite runs at."""
    calendar = get_calendar()
    day = timezone.localtime(timezone.now(), BEIJING).date() + timedelta(days=3)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 30, tzinfo=BEIJING)


def _dispatched(loop, at: datetime) -> Case:
    with clock_at(at):
        case = report(loop)
        act(actor=loop.dispatcher, case=case, action="accept")
        act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
        return act(actor=loop.handler, case=case, action="start")


def _clock(case) -> SlaClock:
    return SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk),
                                   kind="case.handle").order_by("-pk").first()


def _breach(case) -> datetime:
    """The sweep finds the handling deadline passed and the worker delivers it: 超期, 超期自动督办."""
    due = _clock(case).due_at
    with clock_at(due + timedelta(seconds=1)):
        sweep(now=due + timedelta(seconds=1))
        bus.dispatch_pending()
    case.refresh_from_db()
    assert case.is_overdue and case.is_supervised
    assert CaseStep.objects.filter(case=case, action="auto_supervise").exists()
    return due


def _names(case, user) -> list[str]:
    return [t.name for t in CASE_WORKFLOW.allowed(Case.objects.get(pk=case.pk), user)]


def _handled_timely(case, at) -> bool:
    """Whether the evaluation counts the case among the 按期处置数 (DOMAIN.md §4)."""
    return Case.objects.filter(counts_q(at)["handled_timely"], pk=case.pk).exists()


def test_a_late_department_cannot_ask_for_an_extension_and_stays_late(loop, client, dispatched_at):
    """The tester's steps through the API: overdue and auto-supervised, the handler asks for 8 hours."""
    case = _dispatched(loop, dispatched_at)
    due = _breach(case)
    late = due + timedelta(hours=2)
    with clock_at(late):
        handler, leader = auth(loop.handler), auth(loop.leader)
        detail = client.get(f"/api/v1/cases/{case.number}", **handler).json()
        assert "request_extension" not in [a["name"] for a in detail["allowed_actions"]]
        assert "report_back" in [a["name"] for a in detail["allowed_actions"]]
        before = world_counts()
        response = client.post(f"/api/v1/cases/{case.number}/actions/request_extension",
                               {"reason": "材料未到", "hours": 8}, content_type="application/json", **handler)
        assert response.status_code == 409, response.content.decode()
        message = response.json()["detail"]
        shown = f"{due.astimezone(BEIJING):%Y-%m-%d %H:%M}"
        assert f"处置期限（{shown}）已过，延期须在处置期限内申请" in message and "deadline" in message
        assert world_counts() == before
        fresh = Case.objects.get(pk=case.pk)
        assert not fresh.extension_pending and fresh.extension_hours is None and fresh.deadline == case.deadline
        assert not Notification.objects.filter(kind="extension_request").exists()
        # nothing waits for the leader to decide
        detail = client.get(f"/api/v1/cases/{case.number}", **leader).json()
        assert "decide_extension" not in [a["name"] for a in detail["allowed_actions"]]
        response = client.post(f"/api/v1/cases/{case.number}/actions/decide_extension", {"decision": "approve"},
                               content_type="application/json", **leader)
        assert response.status_code == 409 and world_counts() == before

        body = client.post(f"/api/v1/cases/{case.number}/actions/report_back", {"note": "已清理"},
                           content_type="application/json", **handler).json()
    # the lateness stands: 超期 on the board and the lists, supervised, and not 按期处置 in the evaluation
    assert body["handled_on_time"] is False and body["is_overdue"] is True and body["is_supervised"] is True
    case.refresh_from_db()
    assert case.deadline == due and case.handled_on_time is False
    assert list(Case.objects.filter(is_overdue=True)) == [case]
    assert not _handled_timely(case, late)


def test_the_deadline_itself_is_the_last_moment_to_ask(loop, dispatched_at):
    case = _dispatched(loop, dispatched_at)
    due = _clock(case).due_at
    with clock_at(due - timedelta(minutes=1)):
        assert "request_extension" in _names(case, loop.handler)
    with clock_at(due):  # the sweep breaches a deadline at its instant: no longer in time
        assert "request_extension" not in _names(case, loop.handler)
        before = world_counts()
        with pytest.raises(Conflict, match="处置期限.*已过"):
            act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=8)
        assert world_counts() == before
    # a waiting request still says so first
    with clock_at(due - timedelta(minutes=1)):
        act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=8)
        with pytest.raises(Conflict, match="已有待审批的延期申请"):
            act(actor=loop.handler, case=case, action="request_extension", reason="再申请", hours=4)


def test_a_request_made_in_time_may_be_approved_after_the_deadline(loop, dispatched_at):
    case = _dispatched(loop, dispatched_at)
    due = _clock(case).due_at
    with clock_at(due - timedelta(minutes=30)):
        act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    _breach(case)  # the approvers took their time
    with clock_at(due + timedelta(minutes=30)):
        case = act(actor=loop.leader, case=case, action="decide_extension", decision="approve",
                   note="同意，尽快清运")
    clock = _clock(case)
    assert case.deadline == clock.due_at > due + timedelta(minutes=30) and clock.budget == (4 + 8) * 60
    # the case is no longer 超期 (its new deadline lies ahead), but the supervision stays
    assert not case.is_overdue and case.is_supervised
    with clock_at(clock.due_at - timedelta(minutes=1)):
        case = act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert case.handled_on_time is True and _handled_timely(case, clock.due_at)


def test_a_rework_round_asks_within_its_own_deadline(loop, dispatched_at):
    """A late handling stays late for the round; the rework's own clock takes a request in time."""
    case = _dispatched(loop, dispatched_at)
    due = _breach(case)
    with clock_at(due + timedelta(hours=1)):
        act(actor=loop.handler, case=case, action="report_back", note="已清理")
        case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    with clock_at(due + timedelta(hours=1, minutes=5)):
        assert "request_extension" in _names(case, loop.handler)
        act(actor=loop.handler, case=case, action="request_extension", reason="需要机械", hours=2)
        act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
    reworked = _clock(case)
    with clock_at(reworked.due_at - timedelta(minutes=1)):
        case = act(actor=loop.handler, case=case, action="report_back", note="已清理干净")
    assert case.handled_on_time is False  # the round's first handling was late


def test_the_approver_grants_fewer_hours_with_an_opinion_the_requester_hears(loop, client, dispatched_at):
    case = _dispatched(loop, dispatched_at)
    at = dispatched_at + timedelta(minutes=30)
    with clock_at(at):
        act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
        old = _clock(case)
        leader = auth(loop.leader)

        def decide(**body):
            return client.post(f"/api/v1/cases/{case.number}/actions/decide_extension", body,
                               content_type="application/json", **leader)

        before = world_counts()
        for hours, words in ((9, "不能超过申请的 8 小时"), (0, "须为大于 0 的小时数"), (-2, "须为大于 0 的小时数"),
                             (1.25, "0.5 小时的整数倍")):
            refused = decide(decision="approve", hours=hours)
            assert refused.status_code == 400 and refused.json()["field"] == "hours", refused.content.decode()
            assert words in refused.json()["detail"]
            assert world_counts() == before and Case.objects.get(pk=case.pk).extension_hours == 8
        body = decide(decision="approve", hours=4, note="先延 4 小时，不够再申请").json()
    step = body["timeline"][-1]
    assert step["note"] == "同意延期 4 小时（申请 8 小时）：先延 4 小时，不够再申请"
    assert step["data"].items() >= {"decision": "approve", "hours": 4, "requested_hours": 8,
                                    "opinion": "先延 4 小时，不够再申请"}.items()
    clock = _clock(case)
    assert clock.budget == old.budget + 4 * 60 and body["extension_pending"] is False
    assert Case.objects.get(pk=case.pk).deadline == clock.due_at == get_calendar().add_working_time(
        clock.started_at, (4 + 4) * 60)
    told = Notification.objects.get(user=loop.handler, kind="extension_decided")  # the requester
    assert "同意延期 4 小时（申请 8 小时）：先延 4 小时，不够再申请" in told.body and "新的处置期限" in told.body
    # a 返工 keeps the hours granted, not those asked for
    with clock_at(at + timedelta(minutes=10)):
        act(actor=loop.handler, case=case, action="report_back", note="已清理")
        act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    assert _clock(case).budget == (4 + 4) * 60


def test_a_rejection_needs_the_approvers_opinion(loop, dispatched_at):
    case = _dispatched(loop, dispatched_at)
    with clock_at(dispatched_at + timedelta(minutes=30)):
        act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
        before = world_counts()
        for words in ("", "   "):
            with pytest.raises(ValidationFailed, match="不同意延期须填写审批意见") as refused:
                act(actor=loop.dispatcher, case=case, action="decide_extension", decision="reject", note=words)
            assert refused.value.field == "note" and world_counts() == before
        case = act(actor=loop.dispatcher, case=case, action="decide_extension", decision="reject",
                   note="可先行处置，材料另行调配", hours=8)
    step = CaseStep.objects.filter(case=case, action="decide_extension").get()
    assert step.note == "不同意延期 8 小时：可先行处置，材料另行调配" and step.data["opinion"] == "可先行处置，材料另行调配"
    assert case.deadline == _clock(case).due_at and _clock(case).budget == 4 * 60
    told = Notification.objects.get(user=loop.handler, kind="extension_decided")
    assert told.title.startswith("延期申请不同意") and "可先行处置，材料另行调配" in told.body
