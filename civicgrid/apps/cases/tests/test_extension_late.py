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
from civicgrid.dashboards.command.selectors import today_figures
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


# ---- a 延期 asked for in time and approved after the deadline (DOMAIN.md §3 names 延期 and no more: the loop
# follows deployed systems) ------------------------------------------------------------------------------------
# The extension runs on from the deadline that passed, not from the approval; the case is 超期 from that deadline
# until the approval, then not, and late again only if it misses the extended deadline (or if the hours granted do
# not cover the approver's delay). The clock, the 超期 mark, the board, the ledger and the evaluation read it so.


def _late_approval(loop, dispatched_at, *, late_by: int, hours=None) -> tuple[Case, datetime, datetime]:
    """Dispatched, 8 hours asked for in time, the deadline breached (超期, 超期自动督办), approved `late_by` working
    minutes after the deadline (all 8 hours, or `hours`). Returns the case, the deadline that passed and the
    approval's instant."""
    case = _dispatched(loop, dispatched_at)
    due = _clock(case).due_at
    with clock_at(due - timedelta(minutes=30)):
        act(actor=loop.handler, case=case, action="request_extension", reason="需调度清运车", hours=8)
    _breach(case)
    approved = get_calendar().add_working_time(due, late_by)
    with clock_at(approved):
        inputs = {"hours": hours} if hours is not None else {}
        case = act(actor=loop.leader, case=case, action="decide_extension", decision="approve", note="同意",
                   **inputs)
    return case, due, approved


def _figures(loop, moment: datetime):
    """The board's overdue list (the cases and the deadline each is late at), the evaluation's department row for
    the day of `moment`'s deadline period, and the ledger's 超期 columns, as read at `moment`."""
    from civicgrid.apps.evaluation import selectors as evaluation
    from civicgrid.dashboards.command.selectors import overdue

    with clock_at(moment):
        listed, _ = overdue(loop.leader)
    late = {c.number: c.lateness.due_at for c in listed}
    day = timezone.localtime(moment, BEIJING).date()
    rows = evaluation.evaluate(loop.leader, "department", day - timedelta(days=7), day, as_of=moment).rows
    dept = next(r for r in rows if r.key == str(loop.dept.pk)).counts
    return late, dept


def _ledger(client, loop, case, moment: datetime) -> dict:
    import io

    from openpyxl import load_workbook

    with clock_at(moment):  # signed in then: a session from the real now would have expired
        client.force_login(loop.dispatcher)
        response = client.get("/documents/cases/ledger.xlsx")
    assert response.status_code == 200, (response.status_code, response.content[:300])
    body = response.content
    rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))
    return next(dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[0] == case.number)


def test_a_late_approval_runs_on_from_the_deadline_that_passed_and_is_recorded(loop, dispatched_at):
    case, due, approved = _late_approval(loop, dispatched_at, late_by=30)
    clock = _clock(case)
    extended = get_calendar().add_working_time(due, 8 * 60)
    assert case.deadline == clock.due_at == extended  # from the deadline that passed, not from the approval
    assert not case.is_overdue and case.is_supervised  # the approver's delay is not the department's lateness
    step = CaseStep.objects.get(case=case, action="decide_extension")
    shown = f"{timezone.localtime(due, BEIJING):%Y-%m-%d %H:%M}"
    assert step.data["decided_after_deadline"] == timezone.localtime(due, BEIJING).isoformat()
    assert step.data["extended_deadline_passed"] is False
    assert step.note == f"同意延期 8 小时（审批时原处置期限 {shown} 已过，自原期限起顺延）：同意"
    assert step.shown_note == step.note  # the district's language here; English below
    assert f"decided after the deadline {shown} had passed: extended from that deadline" in step.data["note_en"]
    told = Notification.objects.get(user=loop.handler, kind="extension_decided")
    assert "审批时原处置期限" in told.body and "新的处置期限" in told.body
    from civicgrid.foundation.audit.models import AuditEntry

    audited = AuditEntry.objects.get(action="cases.decide_extension", target_id=str(case.pk))
    assert datetime.fromisoformat(audited.data["decided_after_deadline"]) == due

    # the hours between the deadline and the approval, read since: not late on the board's list, not due in the
    # evaluation, not missed on the board's day of the deadline that passed (the extension covers them)
    late, dept = _figures(loop, due + timedelta(minutes=15))
    assert case.number not in late and (dept["due_handle"], dept["due_close"]) == (0, 0)
    with clock_at(extended + timedelta(days=1)):
        assert today_figures(loop.leader, timezone.localtime(due, BEIJING).date()).due_close == 0
    # between the approval and the extended deadline: not on the board's overdue list, not yet due
    between = approved + timedelta(minutes=30)
    late, dept = _figures(loop, between)
    assert case.number not in late and (dept["due_handle"], dept["handled"]) == (0, 0)
    assert _handled_timely(case, between) is False
    # handled within the extended deadline: 按期处置, as the evaluation counts it
    with clock_at(extended - timedelta(minutes=1)):
        case = act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert case.handled_on_time is True and not case.is_overdue
    late, dept = _figures(loop, extended + timedelta(hours=1))
    assert case.number not in late
    assert (dept["due_handle"], dept["handled"], dept["handled_timely"]) == (1, 1, 1)


def test_missing_the_extended_deadline_makes_the_case_overdue_again(loop, client, dispatched_at):
    """The extended deadline of the same clock passes too: the sweep's breach marks the case 超期 again (the
    first breach's record no longer hides it), supervised with a second 超期自动督办 naming the new deadline, the
    department told again; the board lists it late at that deadline, as the ledger and the evaluation say."""
    case, due, approved = _late_approval(loop, dispatched_at, late_by=30)
    extended = case.deadline
    with clock_at(extended + timedelta(seconds=1)):
        sweep(now=extended + timedelta(seconds=1))
        bus.dispatch_pending()
        bus.dispatch_pending()  # a redelivery changes nothing
    case.refresh_from_db()
    assert case.is_overdue and case.is_supervised
    escalations = list(CaseStep.objects.filter(case=case, action="auto_supervise").order_by("at", "pk"))
    assert [datetime.fromisoformat(s.data["due_at"]) for s in escalations] == [due, extended]
    assert Notification.objects.filter(user=loop.handler, kind="overdue").count() == 2
    later = extended + timedelta(hours=1)
    late, dept = _figures(loop, later)
    assert late[case.number] == extended
    assert (dept["due_handle"], dept["handled"]) == (1, 0)
    line = _ledger(client, loop, case, later)
    assert line["超期"] == "是" and line["超期环节"] == "处置"
    assert line["超期环节期限"].replace(microsecond=0) == timezone.localtime(extended, BEIJING).replace(
        tzinfo=None, microsecond=0)
    with clock_at(later):
        case = act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert case.handled_on_time is False and case.is_overdue and not _handled_timely(case, later)


def test_fewer_hours_than_the_approver_took_leave_the_case_late(loop, client, dispatched_at):
    """Approved three working hours after the deadline with one hour granted: the extended deadline (one
    working hour after the one that passed) had passed before the approval. The case stays 超期, late since that
    deadline on the board and in the ledger, the step says so, and no second escalation follows."""
    calendar = get_calendar()
    case, due, approved = _late_approval(loop, dispatched_at, late_by=3 * 60, hours=1)
    extended = calendar.add_working_time(due, 60)
    assert case.deadline == _clock(case).due_at == extended < approved
    assert case.is_overdue and case.is_supervised
    step = CaseStep.objects.get(case=case, action="decide_extension")
    assert step.data["extended_deadline_passed"] is True and "顺延后的期限亦已过，仍属超期" in step.note
    with clock_at(approved + timedelta(minutes=5)):
        sweep(now=approved + timedelta(minutes=5))
        bus.dispatch_pending()
    assert CaseStep.objects.filter(case=case, action="auto_supervise").count() == 1
    later = approved + timedelta(hours=1)
    late, dept = _figures(loop, later)
    assert late[case.number] == extended and (dept["due_handle"], dept["handled"]) == (1, 0)
    with clock_at(later):
        case = act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert case.handled_on_time is False and case.is_overdue
