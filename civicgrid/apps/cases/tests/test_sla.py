"""On time: the sweep's warnings and breaches reach the case (overdue, 超期自动督办, inbox), exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from civicgrid.apps.cases import handlers
from civicgrid.apps.cases.models import Case, CaseStep
from civicgrid.apps.cases.services import act
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.notify.models import Notification
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.services import get_calendar
from civicgrid.foundation.sla.sweep import sweep

from .conftest import jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def _dispatched(loop) -> Case:
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _handle_clock(case) -> SlaClock:
    return SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle")


def test_the_handle_clock_follows_the_category_limit_and_sets_the_deadline(loop):
    case = _dispatched(loop)
    clock = _handle_clock(case)
    assert clock.mode == "working_hours" and clock.limit_amount == 4 and case.deadline == clock.due_at
    other = report(loop, category=loop.sibling.pk)
    act(actor=loop.dispatcher, case=other, action="accept")
    other = act(actor=loop.dispatcher, case=other, action="dispatch", department=loop.dept.pk)
    assert _handle_clock(other).mode == "working_days"
    # a report without a category is accepted only with one (its time limit is the category's)
    bare = report(loop, category=None)
    before = world_counts()
    with pytest.raises(ValidationFailed, match="立案须确定事项分类") as refused:
        act(actor=loop.dispatcher, case=bare, action="accept")
    assert refused.value.field == "category" and world_counts() == before
    act(actor=loop.dispatcher, case=bare, action="accept", category=loop.sibling.pk)
    act(actor=loop.dispatcher, case=bare, action="dispatch", department=loop.dept.pk)
    assert _handle_clock(bare).mode == "working_days" and _handle_clock(bare).limit_amount == 1


def test_warning_then_breach_marks_overdue_escalates_and_notifies_once(loop):
    case = _dispatched(loop)
    clock = _handle_clock(case)
    bus.dispatch_pending()  # the report's own events first

    warned, _ = sweep(now=clock.warn_at + timedelta(seconds=1))
    assert warned >= 1
    bus.dispatch_pending()
    assert Notification.objects.filter(user=loop.handler, kind="warning").count() == 1
    body = Notification.objects.get(user=loop.handler, kind="warning").body  # the deadline as people read it
    assert body.endswith(f"（期限 {timezone.localtime(clock.due_at):%Y-%m-%d %H:%M}）") and "T" not in body[-20:]
    case.refresh_from_db()
    assert not case.is_overdue

    _, breached = sweep(now=clock.due_at + timedelta(seconds=1))
    assert breached >= 1
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.is_overdue and case.is_supervised
    step = CaseStep.objects.get(case=case, action="auto_supervise")
    assert step.note == "超期自动督办" and step.data["kind"] == "case.handle"
    assert Notification.objects.filter(user=loop.handler, kind="overdue").count() == 1
    # The leaders hear of it for their information: not a task the step settles (their kind says so).
    assert Notification.objects.filter(user=loop.leader, kind="auto_supervise").count() == 1
    assert not Notification.objects.filter(user=loop.leader, kind="supervise").exists()
    assert AuditEntry.objects.filter(action="cases.auto_supervise", target_id=str(case.pk)).count() == 1
    listed = Case.objects.visible_to(loop.leader).filter(is_overdue=True, is_supervised=True)
    assert list(listed) == [case]

    # redelivery (a worker crashed after the handler ran) changes nothing
    event = OutboxEvent.objects.get(topic="sla.breached", aggregate_id=str(case.pk))
    counts = (CaseStep.objects.count(), Notification.objects.count(), AuditEntry.objects.count())
    handlers.on_sla_breached(event)
    warning = OutboxEvent.objects.get(topic="sla.warning", aggregate_id=str(case.pk))
    handlers.on_sla_warning(warning)
    assert (CaseStep.objects.count(), Notification.objects.count(), AuditEntry.objects.count()) == counts
    assert sweep(now=clock.due_at + timedelta(hours=1)) == (0, 0)


def test_a_late_report_back_records_handled_on_time_false(loop):
    case = _dispatched(loop)
    clock = _handle_clock(case)
    # the clock is the truth: move its deadline into the past
    SlaClock.objects.filter(pk=clock.pk).update(due_at=timezone.now() - timedelta(minutes=1),
                                                warn_at=timezone.now() - timedelta(minutes=2))
    case = act(actor=loop.handler, case=case, action="report_back", note="迟了")
    assert case.handled_on_time is False
    # the stop published the breach itself; the handler sees a finished step and leaves the case alone
    bus.dispatch_pending()
    case.refresh_from_db()
    assert not CaseStep.objects.filter(case=case, action="auto_supervise").exists()


def test_an_approved_extension_clears_the_overdue_mark_and_rearms_the_sweep(loop):
    case = _dispatched(loop)
    clock = _handle_clock(case)
    sweep(now=clock.due_at + timedelta(seconds=1))
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.is_overdue
    old_due = clock.due_at
    # asked for in time (the real clock is before the deadline the sweep was run past), decided after the breach
    act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=8)
    case = act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
    clock.refresh_from_db()
    # the approved deadline lies ahead: no longer overdue, and the sweep will breach it again if it passes
    assert clock.due_at > old_due and case.deadline == clock.due_at
    assert not case.is_overdue and clock.breached_at is None and clock.warned_at is None
    bus.dispatch_pending()
    assert sweep(now=clock.due_at + timedelta(seconds=1))[1] == 1


def _extension(loop, case, hours: float, decision: str = "approve") -> Case:
    act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=hours)
    return act(actor=loop.dispatcher, case=case, action="decide_extension", decision=decision,
               note="" if decision == "approve" else "材料可先行调配")


def _rework(loop, case, handler=None) -> tuple[Case, SlaClock]:
    """Report back, fail the check: the case and its new (running) handling clock."""
    act(actor=handler or loop.handler, case=case, action="report_back", note="已清理")
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    return case, SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle",
                                      state="running")


def _due(clock: SlaClock, minutes: float):
    """Where `minutes` of working time from the clock's start end on the district's calendar."""
    return get_calendar().add_working_time(clock.started_at, minutes)


def test_rework_keeps_the_extensions_approved_for_the_assignment(loop):
    case = _extension(loop, _dispatched(loop), 8)
    case, clock = _rework(loop, case)
    # 返工 restarts the handling limit in full, and the limit is the category's 4 h plus the approved 8 h
    assert clock.limit_amount == 4 and clock.budget == (4 + 8) * 60
    assert clock.due_at == _due(clock, (4 + 8) * 60) and case.deadline == clock.due_at
    step = CaseStep.objects.filter(case=case, action="rework").get()
    assert step.data["extension_hours"] == 8
    started = OutboxEvent.objects.filter(topic="sla.started", payload__clock_id=clock.pk).get()
    assert started.payload["extra_minutes"] == 8 * 60
    # a second round's extension adds to the first; a rejected one adds nothing
    case = _extension(loop, case, 2)
    case = _extension(loop, case, 5, decision="reject")
    case, clock = _rework(loop, case)
    assert clock.budget == (4 + 8 + 2) * 60 and case.deadline == clock.due_at == _due(clock, 14 * 60)


def test_rework_without_an_approved_extension_restarts_the_category_limit(loop):
    case = _extension(loop, _dispatched(loop), 6, decision="reject")
    case, clock = _rework(loop, case)
    assert clock.budget == 4 * 60 and case.deadline == clock.due_at == _due(clock, 4 * 60)
    assert "extension_hours" not in CaseStep.objects.get(case=case, action="rework").data
    started = OutboxEvent.objects.filter(topic="sla.started", payload__clock_id=clock.pk).get()
    assert "extra_minutes" not in started.payload


def test_an_extension_granted_before_send_back_stays_with_that_assignment(loop):
    case = _extension(loop, _dispatched(loop), 8)
    case = act(actor=loop.handler, case=case, action="send_back", reason="非本部门职责")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    case, clock = _rework(loop, case, handler=loop.other_handler)
    assert clock.budget == 4 * 60 and case.deadline == _due(clock, 4 * 60)


def test_unrelated_sla_events_are_ignored(loop):
    event = OutboxEvent.objects.create(topic="sla.breached", payload={"target_type": "hazards.hazard",
                                                                     "target_id": "1", "kind": "hazard.fix"})
    handlers.on_sla_breached(event)
    handlers.on_sla_warning(event)
    assert not Notification.objects.exists()


def _breached(loop, case=None) -> Case:
    """A dispatched case (`case`, or a new one) whose handling deadline the sweep has found passed: 超期."""
    case = case or _dispatched(loop)
    # the clock is the truth: its deadline passed a minute ago
    SlaClock.objects.filter(pk=_handle_clock(case).pk).update(due_at=timezone.now() - timedelta(minutes=1),
                                                              warn_at=timezone.now() - timedelta(minutes=2))
    sweep(now=timezone.now())
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.is_overdue
    return case


def test_a_new_round_clears_the_overdue_mark_of_the_round_before(loop):
    # A late department sends the case back: the dispatcher's fresh clock is not late, nor the next department's.
    case = act(actor=loop.handler, case=_breached(loop), action="send_back", reason="非本部门职责")
    assert not case.is_overdue
    assert not Case.objects.get(pk=case.pk).is_overdue
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    assert not case.is_overdue


def test_a_late_handling_stays_overdue_until_its_case_is_reopened(loop):
    # an extension asked for in time, then the deadline passes; its rejection leaves the passed deadline as it was
    case = _dispatched(loop)
    act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=4)
    case = _breached(loop, case)
    case = act(actor=loop.dispatcher, case=case, action="decide_extension", decision="reject", note="请按期处置")
    assert case.is_overdue
    # the steps that follow the late handling keep its mark, through closure
    case = act(actor=loop.handler, case=case, action="report_back", note="迟了")
    case = act(actor=loop.worker, case=case, action="verify", note="已核查", photos=[jpeg()])
    case = act(actor=loop.dispatcher, case=case, action="close")
    assert case.is_overdue and case.status == "closed"
    # 重新办理 opens a round of its own: the open case is not 超期 until its new clocks pass
    case = act(actor=loop.dispatcher, case=case, action="reopen", reason="群众反映仍有问题")
    assert case.status in {"accepted", "dispatched"} and not case.is_overdue
    assert not Case.objects.filter(pk=case.pk, is_overdue=True).exists()


def test_a_warning_or_breach_delivered_after_its_step_ended_asks_no_one_for_it(loop):
    """The sweep found the handling clock at 80 % and then past due, but the worker delivered the events only
    after the department had reported back: no 即将超期/已超期 task arrives unsettled. The breach itself stands
    (it happened while the step was open): the case is marked and the leaders told."""
    case = _dispatched(loop)
    bus.dispatch_pending()
    # the clock is the truth: its warning and deadline passed a minute ago
    SlaClock.objects.filter(pk=_handle_clock(case).pk).update(due_at=timezone.now() - timedelta(minutes=1),
                                                              warn_at=timezone.now() - timedelta(minutes=2))
    assert sweep(now=timezone.now()) == (1, 1)  # both queued, not yet delivered
    act(actor=loop.handler, case=case, action="report_back", note="已清理")
    bus.dispatch_pending()
    for kind in ("warning", "overdue"):
        assert not Notification.objects.filter(kind=kind, resolved_at__isnull=True).exists(), kind
    case.refresh_from_db()
    assert case.is_overdue and CaseStep.objects.filter(case=case, action="auto_supervise").exists()
    assert Notification.objects.filter(user=loop.leader, kind="auto_supervise").count() == 1



def _late_now(case) -> None:
    """The running handling clock's deadline passed a minute ago (the clock is the truth)."""
    SlaClock.objects.filter(target_type="cases.case", target_id=str(case.pk), kind="case.handle",
                            state="running").update(due_at=timezone.now() - timedelta(minutes=1),
                                                    warn_at=timezone.now() - timedelta(minutes=2))


def test_a_rework_does_not_undo_a_late_handling_of_the_round(loop):
    """按期处置 is the assignment round's: the department handled late (after the 超期自动督办), 核查 failed, and
    the rework was done in time: the round was still handled late. 返工 clears the live 超期 mark (a new clock
    runs), not the fact."""
    case = _breached(loop)
    case = act(actor=loop.handler, case=case, action="report_back", note="迟了")
    assert case.handled_on_time is False
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    assert not case.is_overdue and case.handled_on_time is False
    case = act(actor=loop.handler, case=case, action="report_back", note="返工完成")
    stopped = SlaClock.objects.filter(target_id=str(case.pk), kind="case.handle").order_by("pk")
    assert [c.on_time for c in stopped] == [False, True]  # the rework itself was in time
    assert case.handled_on_time is False and Case.objects.get(pk=case.pk).handled_on_time is False
    # a second rework in time changes nothing either
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    case = act(actor=loop.handler, case=case, action="report_back", note="再次返工完成")
    assert Case.objects.get(pk=case.pk).handled_on_time is False


def test_a_new_dispatch_judges_its_handling_afresh(loop):
    """After 退回 (or 重新办理) the next department's round is its own: the late round before does not count."""
    case = _breached(loop)
    case = act(actor=loop.handler, case=case, action="report_back", note="迟了")
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    case = act(actor=loop.handler, case=case, action="send_back", reason="非本部门职责")
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    assert case.handled_on_time is None  # not handled in this round yet
    case = act(actor=loop.other_handler, case=case, action="report_back", note="已清理")
    assert case.handled_on_time is True
    # its 核查 fails and the rework is late: this round is late too; closed, then reopened
    case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
    _late_now(case)
    case = act(actor=loop.other_handler, case=case, action="report_back", note="迟了")
    assert case.handled_on_time is False
    case = act(actor=loop.worker, case=case, action="verify", note="已核查", photos=[jpeg()])
    case = act(actor=loop.dispatcher, case=case, action="close")
    case = act(actor=loop.dispatcher, case=case, action="reopen", reason="又堆起来了")
    # 重新办理 and a new 派遣: handled in time, this round is in time
    case = act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.other_dept.pk)
    case = act(actor=loop.other_handler, case=case, action="report_back", note="已清理")
    assert case.handled_on_time is True and Case.objects.get(pk=case.pk).handled_on_time is True


def test_the_migration_keeps_the_late_handlings_of_reworked_cases_late(loop):
    """0012 corrects the facts the old rule left: a reworked case whose current round has a late handling clock
    is not 按期处置, whatever its last handling did; a late round before a new 派遣, a round handled in time and
    a case waiting for its next 派遣 keep their fact."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("civicgrid.apps.cases.migrations.0012_round_handled_on_time")

    def late() -> Case:
        case = _dispatched(loop)
        _late_now(case)
        return case

    def late_then_reworked(closed: bool) -> Case:
        case = act(actor=loop.handler, case=late(), action="report_back", note="迟了")
        case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
        case = act(actor=loop.handler, case=case, action="report_back", note="返工完成")
        if closed:
            case = act(actor=loop.worker, case=case, action="verify", note="已核查", photos=[jpeg()])
            return act(actor=loop.dispatcher, case=case, action="close")
        return act(actor=loop.worker, case=case, action="rework", reason="还是不行")  # in rework again

    closed, reworking = late_then_reworked(True), late_then_reworked(False)
    in_time = _dispatched(loop)
    in_time, _ = _rework(loop, in_time)
    in_time = act(actor=loop.handler, case=in_time, action="report_back", note="返工完成")
    sent_back = act(actor=loop.handler, case=late(), action="report_back", note="迟了")
    sent_back = act(actor=loop.worker, case=sent_back, action="rework", reason="仍有残留")
    sent_back = act(actor=loop.handler, case=sent_back, action="send_back", reason="非本部门职责")
    waiting = act(actor=loop.dispatcher, case=sent_back, action="dispatch", department=loop.other_dept.pk)
    redone = act(actor=loop.other_handler, case=waiting, action="report_back", note="已清理")
    waiting = act(actor=loop.handler, case=late(), action="report_back", note="迟了")
    waiting = act(actor=loop.worker, case=waiting, action="rework", reason="仍有残留")
    waiting = act(actor=loop.handler, case=waiting, action="send_back", reason="非本部门职责")
    cases = {"closed": closed, "reworking": reworking, "in_time": in_time, "redone": redone, "waiting": waiting}
    # the facts the old rule wrote: the latest handling clock's
    Case.objects.filter(pk__in=[closed.pk, reworking.pk, waiting.pk]).update(handled_on_time=True)
    assert Case.objects.get(pk=in_time.pk).handled_on_time is True
    assert Case.objects.get(pk=redone.pk).handled_on_time is True
    updated = {c.pk: c.updated_at for c in Case.objects.filter(pk__in=[c.pk for c in cases.values()])}

    migration.keep_late_handlings_late(apps, None)
    migration.keep_late_handlings_late(apps, None)  # run again (a migration that stopped halfway): the same

    facts = {name: Case.objects.get(pk=case.pk).handled_on_time for name, case in cases.items()}
    assert facts == {"closed": False, "reworking": False, "in_time": True, "redone": True, "waiting": True}
    assert {c.pk: c.updated_at for c in Case.objects.filter(pk__in=updated)} == updated
