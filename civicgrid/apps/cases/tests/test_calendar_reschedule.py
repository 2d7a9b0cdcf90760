"""A working-calendar change moves a case's 处置期限 with its handling clock, in the reschedule's transaction."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from civicgrid.apps.cases.models import Case, CaseStep, Status
from civicgrid.apps.cases.services import act
from civicgrid.apps.evaluation.selectors import aggregates
from civicgrid.foundation.events import bus
from civicgrid.foundation.sla import clock as pure
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.admin_calendar import DayChange, change_days
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import reschedule_open_clocks, sweep

from .conftest import report

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def _handle_clock(case) -> SlaClock:
    return SlaClock.objects.get(
        target_type="cases.case", target_id=str(case.pk), kind="case.handle", state__in=("running", "paused")
    )


def in_hand(loop, since: datetime, days: float = 3) -> Case:
    """A case in 处置中 whose handling clock (``days`` working days) has run since ``since``: the rows the
    services write when a case is dispatched at that moment (the loop runs at the wall clock, so the clock and
    the deadline it sets are then restated for ``since``)."""
    case = report(loop)
    act(actor=loop.dispatcher, case=case, action="accept")
    act(actor=loop.dispatcher, case=case, action="dispatch", department=loop.dept.pk)
    case = act(actor=loop.handler, case=case, action="start")
    assert case.status == Status.HANDLING
    clock = _handle_clock(case)
    clock.apply(pure.start(("working_days", days), since, sla.get_calendar()))
    clock.save()
    Case.objects.filter(pk=case.pk).update(deadline=clock.due_at)
    case.refresh_from_db()
    return case


def test_a_holiday_moves_the_cases_handling_deadline_with_its_clock(
    loop, calendar_admin, django_capture_on_commit_callbacks
):
    case = in_hand(loop, at(2026, 11, 30, 9, 8))
    assert case.deadline == at(2026, 12, 3, 9, 8)
    elsewhere = in_hand(loop, at(2026, 12, 7, 10))  # due after the change: not on the changed day's path
    elsewhere_due = elsewhere.deadline
    as_of = at(2026, 12, 3, 12)  # the evaluation's 应处置/应结案: past the old deadline, before the new one
    assert Case.objects.filter(pk=case.pk).aggregate(**aggregates(["due_handle", "due_close"], as_of)) == {
        "due_handle": 1,
        "due_close": 1,
    }

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sla.set_calendar_day(actor=calendar_admin, date=date(2026, 12, 1), is_workday=False, name="临时停工")
    assert len(callbacks) == 1  # the reschedule task

    case.refresh_from_db()
    assert _handle_clock(case).due_at == at(2026, 12, 4, 9, 8)
    assert case.deadline == at(2026, 12, 4, 9, 8)  # 基本信息·处置期限, the list, the ledger, the case file
    assert not case.is_overdue
    assert Case.objects.filter(pk=case.pk).aggregate(**aggregates(["due_handle", "due_close"], as_of)) == {
        "due_handle": 0,
        "due_close": 0,
    }
    elsewhere.refresh_from_db()
    assert elsewhere.deadline == elsewhere_due == _handle_clock(elsewhere).due_at

    # and back: clearing the day brings both back together
    with django_capture_on_commit_callbacks(execute=True):
        sla.clear_calendar_day(actor=calendar_admin, date=date(2026, 12, 1))
    case.refresh_from_db()
    assert case.deadline == _handle_clock(case).due_at == at(2026, 12, 3, 9, 8)


def test_a_handled_case_keeps_the_deadline_it_was_judged_by(loop, calendar_admin):
    case = in_hand(loop, at(2026, 11, 30, 9, 8))
    case = act(actor=loop.handler, case=case, action="report_back", note="已清理")
    assert case.status == Status.HANDLED and case.deadline == at(2026, 12, 3, 9, 8)
    sla.set_calendar_day(actor=None, date=date(2026, 12, 1), is_workday=False)
    reschedule_open_clocks()
    case.refresh_from_db()
    assert case.deadline == at(2026, 12, 3, 9, 8)  # the step is over: history is not rewritten


def test_the_deadlines_of_a_batch_move_in_one_update(loop):
    cases = [in_hand(loop, at(2026, 11, 30, 9, 8 + n)) for n in range(5)]
    sla.set_calendar_day(actor=None, date=date(2026, 12, 1), is_workday=False)
    table = Case._meta.db_table

    def case_updates(queries):
        return [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]

    with CaptureQueriesContext(connection) as batch_of_all:
        assert reschedule_open_clocks() == 5
    assert (
        len(case_updates(batch_of_all.captured_queries)) == 1
    )  # one statement for the batch, not one per case
    for n, case in enumerate(cases):
        case.refresh_from_db()
        assert case.deadline == at(2026, 12, 4, 9, 8 + n)

    sla.clear_calendar_day(actor=None, date=date(2026, 12, 1))
    with CaptureQueriesContext(connection) as batches_of_two:
        assert reschedule_open_clocks(batch=2) == 5
    assert len(case_updates(batches_of_two.captured_queries)) == 3  # one per batch
    assert [c.deadline for c in Case.objects.filter(pk__in=[c.pk for c in cases]).order_by("pk")] == [
        at(2026, 12, 3, 9, 8 + n) for n in range(5)
    ]


def test_a_deadline_moved_onto_a_swept_instant_makes_the_case_overdue_at_once(loop):
    case = in_hand(loop, at(2026, 11, 27, 9, 8))  # Friday + 3 working days: Wednesday 09:08
    assert case.deadline == at(2026, 12, 2, 9, 8)
    bus.dispatch_pending()
    sweep(now=at(2026, 11, 30, 12))  # the worker swept up to Monday noon
    # the weekend becomes working days (调休): the deadline moves back to Monday 09:08, already swept
    change_days(
        actor=None,
        changes=[
            DayChange(date=date(2026, 11, 28), kind="workday"),
            DayChange(date=date(2026, 11, 29), kind="workday"),
        ],
    )
    reschedule_open_clocks()
    case.refresh_from_db()
    assert case.deadline == _handle_clock(case).due_at == at(2026, 11, 30, 9, 8)
    assert case.is_overdue  # in the reschedule's transaction, before the worker delivers the breach
    bus.dispatch_pending()  # the breach the reschedule published: supervised once, still overdue
    case.refresh_from_db()
    assert case.is_overdue and case.is_supervised
    assert CaseStep.objects.filter(case=case, action="auto_supervise").count() == 1


def test_a_breached_deadline_stays_where_it_was_and_so_does_the_case(loop):
    case = in_hand(loop, at(2026, 11, 30, 9, 8))
    bus.dispatch_pending()
    sweep(now=at(2026, 12, 3, 10))  # breached at 09:08
    bus.dispatch_pending()
    case.refresh_from_db()
    assert case.is_overdue
    sla.set_calendar_day(actor=None, date=date(2026, 12, 1), is_workday=False)
    reschedule_open_clocks()
    case.refresh_from_db()
    assert case.deadline == _handle_clock(case).due_at == at(2026, 12, 3, 9, 8) and case.is_overdue
