"""Migration 0004: working-days clocks stored in minutes of the working day they started on become days."""

import importlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla.models import SlaClock

SH = ZoneInfo("Asia/Shanghai")
AT = datetime(2024, 11, 18, 19, tzinfo=SH)
migration = importlib.import_module("civicgrid.foundation.sla.migrations.0004_budget_in_clock_unit")


def _legacy(n, mode, limit, budget, consumed=0, started=None):
    """A clock row as the minutes-only code left it; ``started`` is its sla.started payload (None: pruned)."""
    c = SlaClock.objects.create(target_type="cases.case", target_id=str(n), kind="case.handle", limit_amount=limit,
                                mode=mode, budget=budget, consumed=consumed, started_at=AT, running_since=AT,
                                due_at=AT, warn_at=AT)
    if started is not None:
        OutboxEvent.objects.create(topic="sla.started", aggregate_type="cases.case", aggregate_id=str(n),
                                   payload={"clock_id": c.pk, **started})
    return c


@pytest.mark.django_db
def test_the_migration_turns_the_minutes_of_working_days_clocks_into_days(fresh_calendar):
    # today's hours are the default 420-minute day
    under_eight = _legacy(1, "working_days", 5, 5 * 480, consumed=240, started={})  # started on 8-hour days
    extended = _legacy(2, "working_days", 1, 480 + 60, started={"extra_minutes": 60})
    OutboxEvent.objects.create(topic="sla.extended", aggregate_type="cases.case", aggregate_id="2",
                               payload={"clock_id": extended.pk, "hours": 3.5})
    extended.budget += 210
    extended.save()
    pruned = _legacy(3, "working_days", 1, 420 + 210, consumed=105)  # events pruned: today's day is taken
    hours = _legacy(4, "working_hours", 4, 240, consumed=30, started={})
    natural = _legacy(5, "natural_hours", 6, 360, started={})
    migration.minutes_to_days(apps, None)
    got = {c.pk: (c.budget, c.consumed) for c in SlaClock.objects.all()}
    assert got[under_eight.pk] == (5, 0.5)
    assert got[extended.pk] == (pytest.approx(1 + 270 / 420), 0)
    assert got[pruned.pk] == (1.5, 0.25)
    assert got[hours.pk] == (240, 30) and got[natural.pk] == (360, 0)
    migration.days_to_minutes(apps, None)
    assert SlaClock.objects.get(pk=pruned.pk).budget == 630
