"""The SLA sweep: warnings at 80 % and breaches at the deadline, once each, from the database alone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from civicgrid.foundation.events.models import OutboxEvent
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import SlaClock, SweepState
from civicgrid.foundation.sla.sweep import reschedule_open_clocks, sweep, watermarks

SH = ZoneInfo("Asia/Shanghai")
CASE = ("cases.case", "42")


def at(y, mo, d, h=0, mi=0, s=0):
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


def sla_events(topic=None):
    qs = OutboxEvent.objects.filter(topic__in=["sla.warning", "sla.breached"]).order_by("id")
    if topic:
        qs = qs.filter(topic=topic)
    return list(qs)


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
    # The sweep wrote no clock row: its watermarks say how far each kind of event has been emitted.
    assert c.warned_at is None and c.breached_at is None
    assert watermarks() == {"warn": at(2024, 11, 15, 17, 42), "breach": at(2024, 11, 18, 9)}
    assert c.warned(at(2024, 11, 18, 9)) and c.breached(at(2024, 11, 18, 9))
    assert not c.breached(at(2024, 11, 18, 8, 59))
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
def test_a_clock_whose_event_is_recorded_on_its_row_is_skipped():
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    SlaClock.objects.filter(pk=c.pk).update(warned_at=at(2024, 11, 18, 10, 48))  # warned by a service
    assert sweep(now=at(2024, 11, 18, 12)) == (0, 1)
    assert [e.topic for e in sla_events()] == ["sla.breached"]


@pytest.mark.django_db
def test_an_idle_sweep_writes_nothing():
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    assert sweep(now=at(2024, 11, 18, 12)) == (1, 1)
    before = list(SweepState.objects.order_by("kind").values_list("kind", "swept_to", "updated_at"))
    assert sweep(now=at(2024, 11, 18, 13)) == (0, 0)
    assert list(SweepState.objects.order_by("kind").values_list("kind", "swept_to", "updated_at")) == before
    assert sweep(now=at(2024, 11, 18, 11)) == (0, 0)  # an earlier instant: already swept past it


@pytest.mark.django_db
def test_batches_end_between_instants_and_a_crowded_instant_goes_whole():
    # Three clocks due at 11:00 and two at 11:30; a batch of 2 cannot split an instant.
    for n in range(5):
        start = at(2024, 11, 18, 10) if n < 3 else at(2024, 11, 18, 10, 30)
        sla.start_clock(target=("cases.case", str(n)), kind="case.handle", limit=("natural_hours", 1), at=start)
    assert sweep(now=at(2024, 11, 18, 10, 59), batch=2) == (3, 0)  # 10:48 ×3; 11:18 ×2 not yet
    assert sweep(now=at(2024, 11, 18, 11, 20), batch=2) == (2, 3)  # 11:00 ×3 in one batch
    assert sweep(now=at(2024, 11, 18, 12), batch=2) == (0, 2)
    assert sweep(now=at(2024, 11, 18, 13), batch=2) == (0, 0)
    breached = [e.aggregate_id for e in sla_events("sla.breached")]
    assert sorted(breached) == ["0", "1", "2", "3", "4"]  # each once
    assert watermarks()["breach"] == at(2024, 11, 18, 12)


@pytest.mark.django_db
def test_a_catch_up_in_batches_of_one_emits_each_event_once_in_order():
    for n, minute in enumerate([20, 0, 10]):
        sla.start_clock(target=("cases.case", str(n)), kind="case.handle", limit=("natural_hours", 1),
                        at=at(2024, 11, 18, 10, minute))
    assert sweep(now=at(2024, 11, 18, 12), batch=1) == (3, 3)
    assert [(e.topic, e.aggregate_id) for e in sla_events()] == [
        ("sla.warning", "1"), ("sla.warning", "2"), ("sla.warning", "0"),
        ("sla.breached", "1"), ("sla.breached", "2"), ("sla.breached", "0"),
    ]


@pytest.mark.django_db
def test_a_clock_started_on_instants_already_swept_gets_its_events_at_once():
    assert sweep(now=at(2024, 11, 18, 12)) == (0, 0)
    c = sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    topics = list(OutboxEvent.objects.filter(topic__startswith="sla.").order_by("id").values_list("topic", flat=True))
    assert topics == ["sla.started", "sla.warning", "sla.breached"]
    c.refresh_from_db()
    assert c.warned_at == c.breached_at == at(2024, 11, 18, 10)  # the instant the service published them
    assert sweep(now=at(2024, 11, 18, 13)) == (0, 0)


@pytest.mark.django_db
def test_a_clock_started_behind_a_watermark_ahead_of_the_wall_clock_still_gets_its_events():
    from datetime import timedelta

    from django.utils import timezone

    ahead = timezone.now() + timedelta(days=3)
    assert sweep(now=ahead) == (0, 0)  # e.g. the server's clock was set forward, then back
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1))  # due in an hour
    assert [e.topic for e in sla_events()] == ["sla.warning", "sla.breached"]
    assert sweep(now=ahead + timedelta(minutes=1)) == (0, 0)


@pytest.mark.django_db
def test_a_warning_already_emitted_is_not_repeated_when_its_instant_moves():
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    assert sweep(now=at(2024, 11, 18, 10, 55)) == (1, 0)  # warned at 10:48
    # A pause recorded at 10:40 (before the warning instant) lifts the instants; the warning stays emitted.
    c = sla.pause_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 10, 40))
    assert c.warn_at is None and c.warned_at == at(2024, 11, 18, 10, 48)
    c = sla.resume_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 11))  # 20 min left: due 11:20
    assert c.due_at == at(2024, 11, 18, 11, 20)
    assert sweep(now=at(2024, 11, 18, 12)) == (0, 1)
    assert [e.topic for e in sla_events()] == ["sla.warning", "sla.breached"]


@pytest.mark.django_db
def test_stopping_a_clock_records_what_the_sweep_emitted():
    sla.start_clock(target=CASE, kind="case.handle", limit=("natural_hours", 1), at=at(2024, 11, 18, 10))
    assert sweep(now=at(2024, 11, 18, 11, 30)) == (1, 1)
    c = sla.stop_clock(target=CASE, kind="case.handle", at=at(2024, 11, 18, 12))
    assert c.on_time is False
    assert (c.warned_at, c.breached_at) == (at(2024, 11, 18, 10, 48), at(2024, 11, 18, 11))
    assert [e.topic for e in sla_events()] == ["sla.warning", "sla.breached"]  # no second breach
    assert c.warned(at(2024, 11, 19)) and c.breached(at(2024, 11, 19))


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
    from civicgrid.foundation.sla.sweep import _emit_orm

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
    assert _emit_orm("warn_at", "warned_at", "sla.warning", None, now, now) == 3
    assert _emit_orm("due_at", "breached_at", "sla.breached", None, now, now) == 1
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


@pytest.mark.django_db
def test_working_days_stay_working_days_through_a_change_of_the_working_hours(fresh_calendar):
    # The tester's steps: 1 and 5 working days dispatched Monday evening, hours lengthened, another dispatched,
    # hours back: every working-days deadline stays at the close of its Nth working day.
    evening = at(2024, 11, 18, 19)
    one = sla.start_clock(target=("cases.case", "1"), kind="case.handle", limit=("working_days", 1), at=evening)
    five = sla.start_clock(target=("cases.case", "5"), kind="case.handle", limit=("working_days", 5), at=evening)
    hours = sla.start_clock(target=("cases.case", "4"), kind="case.handle", limit=("working_hours", 4), at=evening)
    natural = sla.start_clock(target=("cases.case", "6"), kind="case.handle", limit=("natural_hours", 6),
                              at=evening)
    assert (one.due_at, five.due_at, hours.due_at) == (at(2024, 11, 19, 18), at(2024, 11, 25, 18),
                                                         at(2024, 11, 19, 15))
    sla.set_working_hours(actor=None, hours=[("08:00", "12:00"), ("14:00", "18:00")])
    reschedule_open_clocks()
    later = sla.start_clock(target=("cases.case", "2"), kind="case.handle", limit=("working_days", 1), at=evening)
    assert later.due_at == at(2024, 11, 19, 18)
    for c in (one, five, hours, natural):
        c.refresh_from_db()
    assert (one.due_at, five.due_at) == (at(2024, 11, 19, 18), at(2024, 11, 25, 18))
    assert hours.due_at == at(2024, 11, 19, 12)  # still 4 working hours: 08:00-12:00
    assert natural.due_at == at(2024, 11, 19, 1)
    sla.set_working_hours(actor=None, hours=[("08:30", "12:00"), ("14:30", "18:00")])
    reschedule_open_clocks()
    for c in (one, five, hours, natural, later):
        c.refresh_from_db()
    assert (one.due_at, five.due_at, later.due_at) == (at(2024, 11, 19, 18), at(2024, 11, 25, 18),
                                                       at(2024, 11, 19, 18))
    assert hours.due_at == at(2024, 11, 19, 15) and natural.due_at == at(2024, 11, 19, 1)
    assert (one.budget, five.budget, later.budget, hours.budget) == (1, 5, 1, 240)
    # 挂账 across a change: the share of a working day used before the pause is kept
    sla.pause_clock(target=("cases.case", "5"), kind="case.handle", at=at(2024, 11, 19, 12))
    five.refresh_from_db()
    assert five.consumed == 0.5 and five.due_at is None
    sla.set_working_hours(actor=None, hours=[("08:00", "12:00"), ("14:00", "18:00")])
    reschedule_open_clocks()
    five = sla.resume_clock(target=("cases.case", "5"), kind="case.handle", at=at(2024, 11, 20, 8))
    assert five.due_at == at(2024, 11, 26, 12)  # 4.5 working days left: Wed-Fri, Mon, Tuesday morning
