"""An approved 延期 keeps its own unit through a change of the working hours: its hours stay working hours, and the
category's working days stay working days (the 处置期限, the clock's indexed deadline and the sweep agree).

Django's clock is set (`clock_at`) to 10:00 on the Monday of a coming week of five working days (ahead of the
wall clock: the test's users are granted their roles now), so the tests read the same whenever they run (CI
runs during Beijing working hours)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from civicgrid.apps.cases.models import Case
from civicgrid.apps.cases.services import act
from civicgrid.foundation.events import bus
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import sweep
from civicgrid.testing.clock import clock_at

from .conftest import report

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
EIGHT_HOURS = [("08:00", "12:00"), ("14:00", "18:00")]  # 480 minutes
SIX_HOURS = [("09:00", "12:00"), ("13:00", "16:00")]  # 360 minutes


@pytest.fixture
def at(fresh_calendar):
    """`at(day, h, mi)`: that time on the `day`-th day (0: Monday) of the next week whose five weekdays are all
    working days (08:30-12:00, 14:30-18:00 until a test changes them: 420 minutes)."""
    calendar = sla.get_calendar()
    monday = timezone.localdate() + timedelta(days=1)
    while monday.weekday() or not all(calendar.is_workday(monday + timedelta(days=n)) for n in range(5)):
        monday += timedelta(days=1)

    def moment(day, h, mi=0):
        return datetime.combine(monday + timedelta(days=day), time(h, mi), tzinfo=SH)

    return moment


def _handle_clock(case) -> SlaClock:
    return SlaClock.objects.get(target_type="cases.case", target_id=str(case.pk), kind="case.handle",
                                state__in=("running", "paused"))


def _dispatched(loop, category) -> Case:
    case = report(loop, category=category.pk)
    act(actor=loop.dispatcher, case=case, action="accept")
    return act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)


def _extended(loop, case, hours) -> Case:
    act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=hours)
    return act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")


def _set_hours(hours, callbacks) -> None:
    with callbacks(execute=True):  # the reschedule runs after the change commits
        sla.set_working_hours(actor=None, hours=hours)


def _agree(case) -> SlaClock:
    """The case's 处置期限 and its handling clock's indexed deadline, read back: they are one instant."""
    case.refresh_from_db()
    clock = _handle_clock(case)
    assert case.deadline == clock.due_at
    return clock


@pytest.mark.parametrize(("hours", "expected"), [(EIGHT_HOURS, (16, 0)), (SIX_HOURS, (15, 0))])
def test_an_hours_extension_of_a_working_days_case_stays_hours_when_the_working_hours_change(
        loop, at, django_capture_on_commit_callbacks, hours, expected):
    expected = at(1, *expected)  # Tuesday
    with clock_at(at(0, 10)):
        case = _dispatched(loop, loop.sibling)  # 1 working day: Tuesday 10:00
        assert case.deadline == at(1, 10)
        case = _extended(loop, case, 4)  # Tuesday 10:00-12:00, 14:30-16:30
        clock = _agree(case)
        assert case.deadline == at(1, 16, 30)
        assert (clock.mode, clock.budget, clock.extra_minutes) == ("working_days", 1, 240)
        _set_hours(hours, django_capture_on_commit_callbacks)
    clock = _agree(case)
    calendar = sla.get_calendar()
    # the day on the new hours (Tuesday 10:00, the same clock time), then 4 working hours on them: not 4 hours'
    # share of the old 7-hour day re-read on the new day (Tuesday 16:34 on 8-hour days, 14:25 on 6-hour ones)
    assert clock.due_at == calendar.add_working_time(calendar.add_working_days(at(0, 10), 1), 4 * 60) == expected
    assert (clock.budget, clock.extra_minutes) == (1, 240)
    # the sweep's deadline is the new one: nothing breaches before it, the breach comes at it
    bus.dispatch_pending()
    assert sweep(now=expected - timedelta(seconds=1))[1] == 0
    assert sweep(now=expected)[1] == 1


def test_the_hours_stay_hours_however_often_the_working_hours_change_and_after_a_suspension(
        loop, at, django_capture_on_commit_callbacks):
    with clock_at(at(0, 10)):
        case = _extended(loop, _dispatched(loop, loop.sibling), 4)
        _set_hours(EIGHT_HOURS, django_capture_on_commit_callbacks)
        _set_hours(SIX_HOURS, django_capture_on_commit_callbacks)
        _set_hours(EIGHT_HOURS, django_capture_on_commit_callbacks)
        assert _agree(case).due_at == at(1, 16)
    # 挂账 on Monday 11:00 (one working hour used of the day), 恢复办理 on Thursday 09:00 under 6-hour days
    with clock_at(at(0, 11)):
        case = act(actor=loop.dispatcher, case=case, action="suspend", reason="等待资金")
    with clock_at(at(2, 18)):
        _set_hours(SIX_HOURS, django_capture_on_commit_callbacks)
    with clock_at(at(3, 9)):
        case = act(actor=loop.dispatcher, case=case, action="unsuspend")
    clock = _agree(case)
    # 7/8 of a day left (the hour used on the 8-hour day), read on 6-hour days (315 minutes), then the 4 hours
    calendar = sla.get_calendar()
    assert clock.due_at == calendar.add_working_time(at(3, 9), 315 + 240) == at(4, 13, 15)


def test_an_extension_granted_after_the_days_ran_out_keeps_the_hours_it_has_left(
        loop, at, django_capture_on_commit_callbacks):
    with clock_at(at(0, 10)):
        case = _dispatched(loop, loop.sibling)
    with clock_at(at(1, 9, 30)):  # asked for in time (the deadline is Tuesday 10:00) …
        act(actor=loop.handler, case=case, action="request_extension", reason="材料未到", hours=4)
    with clock_at(at(1, 11)):  # … granted an hour late (Tuesday 10:00 passed): 3 hours of the 4 are left
        case = act(actor=loop.dispatcher, case=case, action="decide_extension", decision="approve")
        clock = _agree(case)
        assert case.deadline == at(1, 16, 30) and not case.is_overdue
        assert (clock.consumed, clock.extra_minutes, clock.extra_consumed) == (1, 240, 60)
        _set_hours(EIGHT_HOURS, django_capture_on_commit_callbacks)
    assert _agree(case).due_at == at(1, 16)  # 11:00-12:00, 14:00-16:00 on the new hours: 3 hours still


def test_a_rework_carries_the_extensions_hours_as_hours(loop, at, django_capture_on_commit_callbacks):
    with clock_at(at(0, 10)):
        case = _extended(loop, _dispatched(loop, loop.sibling), 4)
        act(actor=loop.handler, case=case, action="report_back", note="已清理")
        case = act(actor=loop.worker, case=case, action="rework", reason="仍有残留")
        clock = _agree(case)
        assert (clock.budget, clock.extra_minutes) == (1, 240) and case.deadline == at(1, 16, 30)
        _set_hours(EIGHT_HOURS, django_capture_on_commit_callbacks)
    assert _agree(case).due_at == at(1, 16)


def test_the_plain_cases_are_as_before(loop, at, django_capture_on_commit_callbacks):
    with clock_at(at(0, 10)):
        days = _dispatched(loop, loop.sibling)  # working days, no extension
        hours = _extended(loop, _dispatched(loop, loop.cat), 4)  # working hours (4), extended by 4
        hours_clock = _agree(hours)
        assert (hours_clock.budget, hours_clock.extra_minutes) == (8 * 60, 0)  # a minutes clock: all in its budget
        assert hours.deadline == at(1, 11)  # 10:00-12:00, 14:30-18:00, 08:30-11:00
        _set_hours(EIGHT_HOURS, django_capture_on_commit_callbacks)
    assert _agree(days).due_at == at(1, 10)  # one working day: the same clock time
    assert _agree(hours).due_at == at(1, 10)  # 8 working hours: 10:00-12:00, 14:00-18:00, 08:00-10:00
    # and a handled case keeps the deadline it was judged by
    with clock_at(at(1, 9)):
        done = act(actor=loop.handler, case=days, action="report_back", note="已清理")
    assert done.handled_on_time is True
