"""Migration 0007: open clocks reckoned before the fallback calendar knew the fixed-date holidays are moved by
the reschedule task it queues; without such a clock it queues nothing."""

import importlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from civicgrid.foundation.sla import clock
from civicgrid.foundation.sla.admin_calendar import get_calendar
from civicgrid.foundation.sla.models import SlaClock

SH = ZoneInfo("Asia/Shanghai")
migration = importlib.import_module("civicgrid.foundation.sla.migrations.0007_fixed_date_holidays")


def _clock(n, start, minutes, mode="working_hours"):
    """A running clock as the code before 0007 left it: its deadline reckoned with 1 January a working day."""
    return SlaClock.objects.create(target_type="cases.case", target_id=str(n), kind="case.handle",
                                   limit_amount=minutes / 60, mode=mode, budget=minutes, consumed=0,
                                   state="running", started_at=start, running_since=start,
                                   due_at=datetime(2031, 1, 1, 10, 30, tzinfo=SH),
                                   warn_at=datetime(2031, 1, 1, 9, 0, tzinfo=SH))


@pytest.mark.django_db
def test_open_clocks_in_an_unannounced_year_are_moved_off_the_fixed_holidays():
    start = datetime(2030, 12, 31, 16, tzinfo=SH)  # a Tuesday; 2031 lies beyond chinese_calendar's table
    moved = _clock(1, start, 240)
    natural = _clock(2, start, 240, mode="natural_hours")  # natural hours know no holidays: left alone
    migration.queue_reschedule(apps, None)  # tests run tasks at once (ImmediateBackend)
    moved.refresh_from_db()
    natural.refresh_from_db()
    cal = get_calendar()
    assert moved.due_at == clock.due_from(moved.as_state(), start, cal)
    assert moved.due_at == datetime(2031, 1, 2, 10, 30, tzinfo=SH)  # 2 h on the 31st, 2 h on the 2nd
    assert natural.due_at == datetime(2031, 1, 1, 10, 30, tzinfo=SH)


@pytest.mark.django_db
def test_nothing_is_queued_without_such_a_clock(monkeypatch):
    from civicgrid.foundation.sla import sweep

    queued = []
    class Recorder:
        def enqueue(self, *args):
            queued.append(args)

    monkeypatch.setattr(sweep, "reschedule_task", Recorder())
    SlaClock.objects.create(target_type="cases.case", target_id="9", kind="case.handle", limit_amount=4,
                            mode="working_hours", budget=240, consumed=0, state="running",
                            started_at=datetime(2024, 11, 18, 10, tzinfo=SH),
                            running_since=datetime(2024, 11, 18, 10, tzinfo=SH),
                            due_at=datetime(2024, 11, 18, 14, 30, tzinfo=SH))
    migration.queue_reschedule(apps, None)
    assert queued == []
    assert date(2031, 1, 1) > get_calendar().covered_until()
