"""The SLA sweep: warnings at 80 % and breaches at the deadline, once each, from the database alone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.admin_calendar import forget_calendar
from civicgrid.foundation.sla.models import SlaClock
from civicgrid.foundation.sla.sweep import reschedule_open_clocks, sweep

SH = ZoneInfo("Asia/Shanghai")
CASE = ("cases.case", "42")


def at(y, mo, d, h=0, mi=0, s=0):
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


def sla_events(topic=None):
    qs = OutboxEvent.objects.filter(topic__in=["sla.warning", "sla.breached"]).order_by("id")
    if topic:
        qs = qs.filter(topic=topic)
    return list(qs)


@pytest.fixture(autouse=True)
def _fresh_calendar():
    forget_calendar()
    yield
    forget_calendar()


@pytest.mark.django_db
def test_friday_afternoon_clock_warns_at_80_percent_and_breaches_on_monday():
    # Friday 2024-11-15 14:30 + 4 working hours: 210 min on Friday, 30 on Monday → Mon 09:00.
    c = sla.start_clock(
        target=CASE,
        kind="case.handle",
        limit=("working_hours", 4),
        at=at(2024, 11, 15, 14, 30),
        region_code="140213050001",
    )
    assert c.due_at == at(2024, 11, 18, 9, 0)
    assert c.warn_at == at(2024, 11, 15, 17, 42)  # 192 working minutes

    assert sweep(now=at(2024, 11, 15, 17, 41, 59)) == (0, 0)
    assert sweep(now=at(2024, 11, 15, 17, 42)) == (1, 0)
    assert sweep(now=at(2024, 11, 16, 12)) == (0, 0)  # Saturday: nothing new
    assert sweep(now=at(2024, 11, 18, 8, 59, 59)) == (0, 0)
    assert sweep(now=at(2024, 11, 18, 9, 0)) == (0, 1)
    assert sweep(now=at(2024, 11, 20)) == (0, 0)  # idempotent: a later sweep emits nothing

    warning, breach = sla_events()
    assert warning.topic == "sla.warning" and breach.topic == "sla.breached"
    assert (breach.aggregate_type, breach.aggregate_id, breach.region_code) == (
        "cases.case",
        "42",
        "140213050001",
    )
    assert breach.payload["kind"] == "case.handle"
    assert breach.payload["due_at"] == at(2024, 11, 18, 9).isoformat()
    assert breach.payload["clock_id"] == c.pk
    c.refresh_from_db()
    assert c.warned_at == at(2024, 11, 15, 17, 42) and c.breached_at == at(2024, 11, 18, 9)
    assert c.state == "running"  # a breach does not stop the clock: the work is still to be done


@pytest.mark.django_db
def test_clock_started_before_national_day_breaches_after_it():
    # 2024-09-30 10:00 + 2 working days (840 min): 330 min on Sep 30, Oct 1-7 off, 420 on Oct 8,
    # 90 on Oct 9 → due Oct 9 10:00; 80 % (672 min) → Oct 8 16:42.
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("working_days", 2), at=at(2024, 9, 30, 10))
    assert c.due_at == at(2024, 10, 9, 10) and c.warn_at == at(2024, 10, 8, 16, 42)
    assert sweep(now=at(2024, 10, 7, 23, 59)) == (0, 0)  # the whole holiday passes without a warning
    assert sweep(now=at(2024, 10, 8, 16, 42)) == (1, 0)
    assert sweep(now=at(2024, 10, 9, 9, 59)) == (0, 0)
    assert sweep(now=at(2024, 10, 9, 10)) == (0, 1)


@pytest.mark.django_db
def test_pause_and_resume_move_the_deadline():
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 10))
    assert c.due_at == at(2024, 11, 18, 16, 30)
    c = sla.pause_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11))  # 60 min used
    assert c.state == "paused" and c.due_at is None
    assert sweep(now=at(2024, 11, 18, 17)) == (0, 0)  # no deadline while paused
    c = sla.resume_clock(target=CASE, kind="case.handle", at=at(2024, 11, 19, 9))  # 180 min left
    assert c.due_at == at(2024, 11, 19, 12) and c.warn_at == at(2024, 11, 19, 11, 12)
    assert sweep(now=at(2024, 11, 19, 11, 59)) == (1, 0)
    assert sweep(now=at(2024, 11, 19, 12)) == (0, 1)


@pytest.mark.django_db
def test_stop_prevents_later_events():
    sla.start_clock(target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 10))
    c = sla.stop_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11))
    assert c.on_time is True and c.state == "stopped"
    assert sweep(now=at(2024, 11, 25)) == (0, 0)
    assert sla_events() == []


@pytest.mark.django_db
def test_late_stop_before_the_sweep_still_records_one_breach():
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    c = sla.stop_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 12))
    assert c.on_time is False and c.breached_at == at(2024, 11, 18, 12)
    assert [e.topic for e in sla_events()] == ["sla.breached"]
    assert sweep(now=at(2024, 11, 19)) == (0, 0)


@pytest.mark.django_db
def test_a_worker_that_was_down_catches_up_warning_first():
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    sla.start_clock(
        target=("cases.case", "43"), kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10)
    )
    assert sweep(now=at(2024, 11, 18, 15), batch=1) == (2, 2)  # several batches
    assert [e.topic for e in sla_events()] == ["sla.warning"] * 2 + ["sla.breached"] * 2


@pytest.mark.django_db
def test_paused_clock_past_its_deadline_is_still_marked_breached():
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    sla.pause_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11, 30))  # paused when overdue
    assert sweep(now=at(2024, 11, 18, 12)) == (1, 1)


@pytest.mark.django_db
def test_sweep_publishes_in_the_same_transaction_as_marking():
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    SlaClock.objects.filter(pk=c.pk).update(warned_at=at(2024, 11, 18, 10, 48))  # already warned earlier
    assert sweep(now=at(2024, 11, 18, 12)) == (0, 1)
    assert (
        OutboxEvent.objects.filter(topic="sla.breached").count()
        == SlaClock.objects.filter(breached_at__isnull=False).count()
        == 1
    )


@pytest.mark.django_db
def test_reschedule_after_a_calendar_change_moves_open_deadlines():
    c = sla.start_clock(
        target=CASE, kind="case.handle", limit=("working_hours", 4), at=at(2024, 11, 18, 14, 30)
    )
    assert c.due_at == at(2024, 11, 19, 9)
    stopped = sla.start_clock(
        target=CASE, kind="case.other", limit=("working_hours", 4), at=at(2024, 11, 18, 14, 30)
    )
    sla.stop_clock(target=CASE, kind="case.other", at=at(2024, 11, 18, 15))
    sla.set_calendar_day(actor=None, date=date(2024, 11, 19), is_workday=False, name="临时停工")
    assert reschedule_open_clocks(date(2024, 11, 19)) == 1
    c.refresh_from_db()
    stopped.refresh_from_db()
    assert c.due_at == at(2024, 11, 20, 9)  # Tuesday is now a day off
    assert stopped.due_at == at(2024, 11, 19, 9)  # history is not rewritten
    assert reschedule_open_clocks(date(2024, 11, 19)) == 0


@pytest.mark.django_db
def test_set_based_sweep_writes_the_same_events_as_the_orm_reference():
    from civicgrid.foundation.sla.sweep import _sweep_orm

    start = datetime(2024, 11, 18, 10, 0, 7, 654321, tzinfo=SH)  # fractions are truncated, never rounded
    for n, limit in enumerate([("natural_hours", 1), ("working_hours", 2), ("working_days", 0.1)]):
        sla.start_clock(
            target=("cases.case", str(n)),
            kind="case.handle",
            limit=limit,
            at=start,
            region_code=f"14021305{n}",
        )
    sla.pause_clock(
        target=("cases.case", "2"), kind="case.handle", at=at(2024, 11, 18, 10, 40)
    )  # warned, no due_at
    now = at(2024, 11, 18, 13)

    def events():
        return [
            (e.topic, e.aggregate_type, e.aggregate_id, e.region_code, e.payload)
            for e in OutboxEvent.objects.filter(topic__in=["sla.warning", "sla.breached"]).order_by("id")
        ]

    assert sweep(now=now) == (3, 1)
    by_sql = events()
    OutboxEvent.objects.filter(topic__in=["sla.warning", "sla.breached"]).delete()
    SlaClock.objects.update(warned_at=None, breached_at=None)
    assert _sweep_orm("warn_at", "warned_at", "sla.warning", now, 100) == 3
    assert _sweep_orm("due_at", "breached_at", "sla.breached", now, 100) == 1
    assert events() == by_sql
    natural = [e[4] for e in by_sql if e[2] == "0"]
    assert [p["warn_at"] for p in natural] == ["2024-11-18T10:48:07+08:00"] * 2
    assert (
        natural[1]["due_at"] == "2024-11-18T11:00:07+08:00"
        and natural[1]["at"] == "2024-11-18T13:00:00+08:00"
    )
    paused = [e[4] for e in by_sql if e[2] == "2"]
    assert len(paused) == 1 and paused[0]["due_at"] is None  # paused: no deadline in force, no breach


@pytest.mark.django_db
def test_events_of_a_sweep_at_another_instant_are_deliverable_at_once(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from civicgrid.foundation.events import bus

    monkeypatch.setattr(bus, "_HANDLERS", {})
    seen = []
    bus.handler("sla.*", name="seen")(lambda e: seen.append(e.topic))
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1))
    assert sweep(now=timezone.now() + timedelta(days=2)) == (1, 1)
    bus.dispatch_pending()
    assert sorted(seen) == ["sla.breached", "sla.started", "sla.warning"]
