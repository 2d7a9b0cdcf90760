"""Migration 0006: the extensions a working-days clock held as a share of the working day become working minutes
beside its days, and every stored deadline stays what the new state gives."""

import importlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from civicgrid.foundation.sla import clock
from civicgrid.foundation.sla.admin_calendar import get_calendar
from civicgrid.foundation.sla.models import CalendarSettings, SlaClock

SH = ZoneInfo("Asia/Shanghai")
AT = datetime(2024, 11, 18, 10, tzinfo=SH)  # a Monday
migration = importlib.import_module("civicgrid.foundation.sla.migrations.0006_extension_in_minutes")


def _legacy(n, mode, limit, budget, consumed=0, state="running"):
    """A clock row as the code before 0006 left it: an extension of a working-days clock is days of ``budget``;
    its deadline reckoned from that budget on today's calendar."""
    cal = get_calendar()
    running = state == "running"
    due = clock.advance(mode, AT, budget - consumed, cal) if running else None
    warn = clock.advance(mode, AT, budget * 0.8 - consumed, cal) if running else None
    return SlaClock.objects.create(target_type="cases.case", target_id=str(n), kind="case.handle", limit_amount=limit,
                                   mode=mode, budget=budget, consumed=consumed, state=state, started_at=AT,
                                   running_since=AT if running else None, paused_at=None if running else AT,
                                   due_at=due, warn_at=warn)


@pytest.mark.django_db
@pytest.mark.parametrize("hours", [None, [["08:00", "12:00"], ["14:00", "18:00"]]])
def test_the_migration_holds_the_extensions_of_working_days_clocks_in_minutes(hours):
    if hours:
        CalendarSettings.objects.create(pk=1, hours=hours)
    day = get_calendar().day_minutes
    extended = _legacy(1, "working_days", 2, 2 + 240 / day, consumed=0.5)  # 4 hours granted
    overrun = _legacy(2, "working_days", 1, 1 + 120 / day, consumed=1 + 60 / day, state="paused")  # 1 h into them
    plain = _legacy(3, "working_days", 3, 3, consumed=1.25)
    minutes = _legacy(4, "working_hours", 4, 240 + 180, consumed=30)  # a minutes clock: its extension is budget
    before = {c.pk: (c.due_at, c.warn_at) for c in SlaClock.objects.all()}

    migration.split_extensions(apps, None)
    migration.split_extensions(apps, None)  # run again (a migration that stopped halfway): the same
    got = {c.pk: (c.budget, c.consumed, c.extra_minutes, c.extra_consumed) for c in SlaClock.objects.all()}
    assert got[extended.pk] == (2, 0.5, 240, 0)
    assert got[overrun.pk] == (1, 1, 120, 60)
    assert got[plain.pk] == (3, 1.25, 0, 0)
    assert got[minutes.pk] == (420, 30, 0, 0)
    # the stored deadlines are the ones the new state gives on today's calendar
    cal = get_calendar()
    for c in SlaClock.objects.filter(state="running"):
        assert (c.due_at, c.warn_at) == before[c.pk]
        state = c.as_state()
        assert abs(clock.due_from(state, c.running_since, cal) - c.due_at).total_seconds() < 0.001
        assert abs(clock.warn_from(state, c.running_since, cal) - c.warn_at).total_seconds() < 0.001
    # the paused one resumes with the hour of its extension that is left
    resumed = clock.resume(SlaClock.objects.get(pk=overrun.pk).as_state(), datetime(2024, 11, 19, 10, tzinfo=SH), cal)
    assert resumed.due_at == datetime(2024, 11, 19, 11, tzinfo=SH)

    migration.join_extensions(apps, None)
    back = {c.pk: (c.budget, c.consumed, c.extra_minutes) for c in SlaClock.objects.all()}
    assert back[extended.pk] == (pytest.approx(2 + 240 / day), 0.5, 0)
    assert back[overrun.pk] == (pytest.approx(1 + 120 / day), pytest.approx(1 + 60 / day), 0)
