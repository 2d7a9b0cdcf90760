"""Administrators' calendar: overrides and working hours (audited, permission-checked), provisional
years, and every process picking up a change."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import PermissionDenied, ValidationFailed
from civicgrid.foundation.sla import admin_calendar as cal
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import CalendarDay, CalendarSettings
from civicgrid.testing.builders import user_with

SH = ZoneInfo("Asia/Shanghai")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=SH)


@pytest.mark.django_db
def test_only_configuration_managers_edit_the_calendar(tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    with pytest.raises(PermissionDenied):
        cal.set_calendar_day(actor=worker, date=date(2027, 2, 8), is_workday=False, name="春节")
    admin = user_with(Role.SYSTEM_ADMIN)
    day = cal.set_calendar_day(actor=admin, date=date(2027, 2, 8), is_workday=False, name="春节")
    assert CalendarDay.objects.get() == day
    entry = AuditEntry.objects.get(action="config.changed")
    assert entry.actor == admin and entry.before is None
    assert entry.after == {"is_workday": False, "name": "春节"}
    cal.set_calendar_day(actor=admin, date=date(2027, 2, 8), is_workday=True, name="")
    latest = AuditEntry.objects.filter(action="config.changed").order_by("-id").first()
    assert latest.before == {"is_workday": False, "name": "春节"}
    assert CalendarDay.objects.get().is_workday is True


@pytest.mark.django_db
def test_working_hours_are_validated_audited_and_used():
    with pytest.raises(ValidationFailed):
        cal.set_working_hours(actor=None, hours=[("09:00", "08:00")])
    cal.set_working_hours(actor=None, hours=[("09:00", "12:00"), ("13:00", "17:00")])
    assert CalendarSettings.objects.get().hours == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert cal.get_calendar().day_minutes == 420
    c = sla.start_clock(
        target=("cases.case", "1"), kind="k", limit=("working_hours", 4), at=at(2024, 11, 18, 15)
    )
    assert c.due_at == at(2024, 11, 19, 11)  # 2 h on Monday until 17:00, 2 h from 09:00
    assert AuditEntry.objects.filter(action="config.changed", data__setting="working_hours").exists()


@pytest.mark.django_db
def test_other_processes_pick_up_a_change_through_the_version_token():
    first = cal.get_calendar()
    assert cal.get_calendar() is first  # built once per process
    # Another process changes the calendar: only the database changes here.
    CalendarDay.objects.create(date=date(2024, 11, 19), is_workday=False)
    CalendarSettings.objects.update_or_create(pk=1, defaults={"version": "changed-elsewhere"})
    rebuilt = cal.get_calendar()
    assert rebuilt is not first and rebuilt.is_workday(date(2024, 11, 19)) is False


@pytest.mark.django_db
def test_the_version_token_is_read_at_most_every_recheck_interval(settings, django_assert_num_queries):
    settings.CIVICGRID_CALENDAR_RECHECK_SECONDS = 3600
    first = cal.get_calendar()
    CalendarDay.objects.create(date=date(2024, 11, 19), is_workday=False)
    CalendarSettings.objects.update_or_create(pk=1, defaults={"version": "changed-elsewhere"})
    with django_assert_num_queries(0):  # within the interval: the process's calendar, no query
        assert cal.get_calendar() is first
    # An edit through the services in this process is seen at once, whatever the interval.
    admin = user_with(Role.SYSTEM_ADMIN)
    cal.set_calendar_day(actor=admin, date=date(2024, 11, 20), is_workday=False, name="调休")
    rebuilt = cal.get_calendar()
    assert rebuilt is not first
    assert rebuilt.is_workday(date(2024, 11, 19)) is False and rebuilt.is_workday(date(2024, 11, 20)) is False


@pytest.mark.django_db
def test_years_beyond_chinese_calendar_are_provisional_until_confirmed():
    covered = cal.get_calendar().covered_until()
    assert cal.calendar_status(date(covered.year, 1, 1), covered).provisional is False
    next_year = covered.year + 1
    status = cal.calendar_status(date(next_year, 1, 1), date(next_year, 12, 31))
    assert status.provisional and status.provisional_years == [next_year]
    assert status.first_provisional_day == date(next_year, 1, 1)
    assert str(next_year) in status.message
    days = cal.year_view(next_year)
    assert len(days) in (365, 366) and {d["source"] for d in days} == {"provisional"}

    cal.set_calendar_day(actor=None, date=date(next_year, 1, 1), is_workday=False, name="元旦")
    days = {d["date"]: d for d in cal.year_view(next_year)}
    assert days[date(next_year, 1, 1)] == {
        "date": date(next_year, 1, 1),
        "is_workday": False,
        "name": "元旦",
        "source": "override",
    }
    assert cal.calendar_status(date(next_year, 1, 1), date(next_year, 1, 1)).provisional is False
    assert cal.is_provisional(date(next_year, 1, 2)) is True

    cal.confirm_year(actor=None, year=next_year)
    assert cal.calendar_status(date(next_year, 1, 1), date(next_year, 12, 31)).provisional is False
    assert cal.is_provisional(date(next_year, 1, 2)) is False
    assert cal.calendar_status(date(next_year, 1, 1), date(next_year + 1, 3, 1)).provisional_years == [
        next_year + 1
    ]


@pytest.mark.django_db
def test_statutory_days_carry_their_names():
    days = {d["date"]: d for d in cal.year_view(2024)}
    assert days[date(2024, 10, 1)]["source"] == "statutory" and days[date(2024, 10, 1)]["name"] == "国庆节"
    assert days[date(2024, 9, 29)]["is_workday"] is True  # a Sunday make-up working day


@pytest.mark.django_db
def test_a_calendar_change_reschedules_open_clocks_after_commit(django_capture_on_commit_callbacks):
    c = sla.start_clock(
        target=("cases.case", "1"), kind="k", limit=("working_hours", 4), at=at(2024, 11, 18, 14, 30)
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        cal.set_calendar_day(actor=None, date=date(2024, 11, 19), is_workday=False)
    assert len(callbacks) == 1  # the reschedule task, queued only once the change committed
    c.refresh_from_db()
    assert c.due_at == at(2024, 11, 20, 9)

    assert cal.clear_calendar_day(actor=None, date=date(2024, 11, 19)) is True
    assert cal.clear_calendar_day(actor=None, date=date(2024, 11, 19)) is False
