"""SLA clock state machine: deadlines, warnings, pause/resume, stop, and what gets stored."""

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from civicgrid.foundation.sla import clock
from civicgrid.foundation.sla.calendar import WorkingCalendar
from civicgrid.foundation.sla.clock import ClockError, ClockState, Limit

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


def at(y, mo, d, h=0, mi=0, s=0):
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


# ---- start --------------------------------------------------------------------------------------------


def test_start_working_hours():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)
    assert state.state == "running"
    assert state.budget == 240
    assert state.consumed == 0
    assert state.started_at == state.running_since == at(2024, 11, 18, 10)
    assert state.due_at == at(2024, 11, 18, 16, 30)  # 10:00-12:00, 14:30-16:30
    assert state.warn_at == at(2024, 11, 18, 15, 42)  # 192 working minutes (80 %)
    assert state.paused_at is None and state.stopped_at is None and state.on_time is None


def test_start_working_days_over_national_day():
    state = clock.start(Limit("working_days", 15), at(2024, 9, 30, 10), CAL)
    assert state.budget == 15  # in working days, not in minutes of today's working day
    assert state.due_at == at(2024, 10, 25, 10)
    assert state.warn_at == at(2024, 10, 22, 10)  # 12 working days: Oct 8-12, 14-18, 21, 22


def test_start_natural_hours_ignores_the_calendar():
    state = clock.start(("natural_hours", 6), at(2024, 11, 15, 22), CAL)
    assert state.budget == 360
    assert state.due_at == at(2024, 11, 16, 4)
    assert state.warn_at == at(2024, 11, 16, 2, 48)
    without_calendar = clock.start(("natural_hours", 6), at(2024, 11, 15, 22), None)
    assert without_calendar.due_at == at(2024, 11, 16, 4)


def test_start_outside_working_time_and_custom_warn_ratio():
    state = clock.start(("working_hours", 4), at(2024, 11, 15, 19), CAL, warn_ratio=0.5)
    assert state.due_at == at(2024, 11, 18, 15)  # Monday 08:30-12:00 (210) + 14:30-15:00 (30)
    assert state.warn_at == at(2024, 11, 18, 10, 30)


def test_fractional_amounts():
    state = clock.start(("working_days", 0.5), at(2024, 11, 18, 10), CAL)
    assert state.budget == 0.5
    assert state.due_at == at(2024, 11, 18, 16)
    state = clock.start(("working_hours", 1.5), at(2024, 11, 18, 11), CAL)
    assert state.due_at == at(2024, 11, 18, 15)


def test_extra_minutes_lengthen_the_budget_from_the_start():
    # 4 working hours + 3 granted earlier = 420 minutes: Monday 10:00-12:00, 14:30-18:00 (330), Tuesday 08:30-10:00
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL, extra_minutes=180)
    assert state.budget == 420
    assert state.due_at == at(2024, 11, 19, 10)
    assert state.warn_at == at(2024, 11, 19, 8, 36)  # 80 % of the whole budget: 336 working minutes
    with pytest.raises(ValueError, match="extra_minutes"):
        clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL, extra_minutes=-1)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (("weeks", 1), "unknown limit mode"),
        (("working_hours", 0), "positive"),
        (("working_days", -1), "positive"),
        (("working_hours", "4"), "positive"),
        (("working_hours", True), "positive"),
        ("working_hours", "pair"),
    ],
)
def test_bad_limits(limit, message):
    with pytest.raises(ValueError, match=message):
        clock.start(limit, at(2024, 11, 18, 10), CAL)


def test_bad_start_arguments():
    with pytest.raises(ValueError, match="warn_ratio"):
        clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL, warn_ratio=0)
    with pytest.raises(ValueError, match="warn_ratio"):
        clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL, warn_ratio=1.2)
    with pytest.raises(ValueError, match="naive"):
        clock.start(("working_hours", 4), datetime(2024, 11, 18, 10), CAL)
    with pytest.raises(ValueError, match="needs a WorkingCalendar"):
        clock.start(("working_days", 1), at(2024, 11, 18, 10), None)


# ---- pause / resume -----------------------------------------------------------------------------------


def test_pause_and_resume_extend_the_deadline_by_the_paused_working_time():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)
    paused = clock.pause(state, at(2024, 11, 18, 11), CAL)
    assert paused.state == "paused"
    assert paused.paused_at == at(2024, 11, 18, 11)
    assert paused.consumed == 60
    assert paused.due_at is None and paused.warn_at is None  # no deadline in force while paused
    assert paused.running_since is None

    resumed = clock.resume(paused, at(2024, 11, 19, 9), CAL)
    # Paused working time: Mon 11:00-12:00, 14:30-18:00, Tue 08:30-09:00 = 300 minutes.
    assert CAL.working_minutes_between(at(2024, 11, 18, 11), at(2024, 11, 19, 9)) == 300
    assert resumed.state == "running" and resumed.running_since == at(2024, 11, 19, 9)
    assert resumed.paused_at is None
    assert resumed.due_at == at(2024, 11, 19, 12)  # 180 minutes left from Tue 09:00
    assert CAL.working_minutes_between(state.due_at, resumed.due_at) == 300
    assert resumed.warn_at == at(2024, 11, 19, 11, 12)  # 132 minutes left to the warning
    assert resumed.consumed == 60
    assert resumed.started_at == state.started_at


def test_pause_over_a_holiday_only_extends_by_working_time():
    state = clock.start(("working_days", 15), at(2024, 9, 30, 10), CAL)
    paused = clock.pause(state, at(2024, 9, 30, 17), CAL)
    resumed = clock.resume(paused, at(2024, 10, 8, 8, 30), CAL)  # only 17:00-18:00 was working time
    assert resumed.due_at == at(2024, 10, 25, 11)
    assert resumed.warn_at == at(2024, 10, 22, 11)


def test_pause_and_resume_on_a_natural_clock():
    state = clock.start(("natural_hours", 6), at(2024, 11, 15, 22), CAL)
    paused = clock.pause(state, at(2024, 11, 15, 23), CAL)
    assert paused.consumed == 60
    resumed = clock.resume(paused, at(2024, 11, 16, 0, 30), CAL)
    assert resumed.due_at == at(2024, 11, 16, 5, 30)


def test_several_pauses_accumulate():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 9), CAL)
    state = clock.pause(state, at(2024, 11, 18, 10), CAL)  # consumed 60
    state = clock.resume(state, at(2024, 11, 18, 15), CAL)
    state = clock.pause(state, at(2024, 11, 18, 16), CAL)  # consumed 120
    assert state.consumed == 120
    state = clock.resume(state, at(2024, 11, 19, 8, 0), CAL)
    assert state.due_at == at(2024, 11, 19, 10, 30)


def test_pausing_an_overdue_clock_keeps_its_historical_deadline():
    state = clock.start(("working_hours", 1), at(2024, 11, 18, 9), CAL)
    assert state.due_at == at(2024, 11, 18, 10)
    paused = clock.pause(state, at(2024, 11, 18, 11), CAL)
    assert paused.due_at == at(2024, 11, 18, 10) and paused.warn_at == at(2024, 11, 18, 9, 48)
    assert clock.is_overdue(paused, at(2024, 11, 20))
    resumed = clock.resume(paused, at(2024, 11, 19, 9), CAL)
    assert resumed.due_at == at(2024, 11, 18, 10)
    assert clock.remaining(resumed, at(2024, 11, 19, 9, 30), CAL) == -90
    stopped = clock.stop(resumed, at(2024, 11, 19, 9, 30), CAL)
    assert stopped.on_time is False and stopped.consumed == 150


def test_paused_after_the_warning_keeps_warn_at_and_recomputes_due_at():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)  # warn 15:42, due 16:30
    paused = clock.pause(state, at(2024, 11, 18, 16), CAL)
    assert paused.warn_at == at(2024, 11, 18, 15, 42) and paused.due_at is None
    resumed = clock.resume(paused, at(2024, 11, 19, 10), CAL)
    assert resumed.warn_at == at(2024, 11, 18, 15, 42)
    assert resumed.due_at == at(2024, 11, 19, 10, 30)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 10, 1)),
    hours=st.integers(min_value=1, max_value=300),
    pause_after=st.integers(min_value=0, max_value=60 * 24 * 40),
    pause_for=st.integers(min_value=0, max_value=60 * 24 * 40),
)
def test_property_pause_extends_due_by_exactly_the_paused_working_time(start, hours, pause_after, pause_for):
    start = start.replace(tzinfo=SH)
    state = clock.start(("working_hours", hours), start, CAL)
    paused_at = start + timedelta(minutes=pause_after)
    assume(paused_at < state.due_at)  # a deadline already reached stays where it was
    resumed_at = paused_at + timedelta(minutes=pause_for)
    resumed = clock.resume(clock.pause(state, paused_at, CAL), resumed_at, CAL)
    assert CAL.working_time_between(state.due_at, resumed.due_at) == CAL.working_time_between(
        paused_at, resumed_at
    )
    assert clock.remaining(resumed, resumed.due_at, CAL) == 0
    if paused_at < state.warn_at:
        assert clock.consumed_ratio(resumed, resumed.warn_at, CAL) == pytest.approx(0.8)
    else:  # the warning was reached before the pause: it stays a fact of the past
        assert resumed.warn_at == state.warn_at


# ---- stop and queries ---------------------------------------------------------------------------------


def test_stop_on_time_and_late():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)
    on_time = clock.stop(state, at(2024, 11, 18, 16, 30), CAL)
    assert on_time.state == "stopped" and on_time.on_time is True
    assert on_time.consumed == 240 and on_time.stopped_at == at(2024, 11, 18, 16, 30)
    assert on_time.due_at == at(2024, 11, 18, 16, 30)  # kept as the deadline that was in force
    late = clock.stop(state, at(2024, 11, 18, 16, 31), CAL)
    assert late.on_time is False and late.consumed == 241
    assert clock.is_overdue(late, at(2030, 1, 1))
    assert not clock.is_overdue(on_time, at(2030, 1, 1))


def test_stop_while_paused():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)
    paused = clock.pause(state, at(2024, 11, 18, 11), CAL)
    stopped = clock.stop(paused, at(2024, 11, 25, 9), CAL)
    assert stopped.on_time is True and stopped.consumed == 60
    assert stopped.paused_at == at(2024, 11, 18, 11) and stopped.stopped_at == at(2024, 11, 25, 9)


def test_remaining_and_consumed_ratio():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)
    assert clock.remaining(state, at(2024, 11, 18, 10), CAL) == 240
    assert clock.remaining(state, at(2024, 11, 18, 13), CAL) == 120  # lunch does not count
    assert clock.consumed_ratio(state, at(2024, 11, 18, 13), CAL) == 0.5
    assert clock.consumed_ratio(state, state.warn_at, CAL) == pytest.approx(0.8)
    assert clock.consumed_ratio(state, state.due_at, CAL) == 1.0
    assert clock.remaining(state, at(2024, 11, 19, 9), CAL) == -120  # 120 + 210 + 30 consumed
    assert clock.consumed(state, at(2024, 11, 18, 9), CAL) == 0  # before the start: nothing yet
    paused = clock.pause(state, at(2024, 11, 18, 11), CAL)
    assert clock.remaining(paused, at(2024, 12, 30, 10), CAL) == 180  # frozen while paused
    stopped = clock.stop(state, at(2024, 11, 18, 15), CAL)
    assert clock.consumed_ratio(stopped, at(2025, 1, 1, 10), CAL) == 150 / 240


def test_is_overdue_while_running():
    state = clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)
    assert not clock.is_overdue(state, at(2024, 11, 18, 16, 30))
    assert clock.is_overdue(state, at(2024, 11, 18, 16, 31))


# ---- invalid transitions ------------------------------------------------------------------------------


def _running():
    return clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL)


def test_invalid_transitions_raise():
    running = _running()
    paused = clock.pause(running, at(2024, 11, 18, 11), CAL)
    stopped = clock.stop(running, at(2024, 11, 18, 11), CAL)
    later = at(2024, 11, 18, 12)
    with pytest.raises(ClockError, match="cannot pause a paused clock"):
        clock.pause(paused, later, CAL)
    with pytest.raises(ClockError, match="cannot resume a running clock"):
        clock.resume(running, later, CAL)
    for action in (clock.pause, clock.resume):
        with pytest.raises(ClockError, match="stopped clock"):
            action(stopped, later, CAL)
    with pytest.raises(ClockError, match="cannot stop a clock twice"):
        clock.stop(stopped, later, CAL)


def test_time_cannot_run_backwards():
    running = _running()
    with pytest.raises(ClockError, match="before"):
        clock.pause(running, at(2024, 11, 18, 9), CAL)
    with pytest.raises(ClockError, match="before"):
        clock.stop(running, at(2024, 11, 18, 9), CAL)
    paused = clock.pause(running, at(2024, 11, 18, 11), CAL)
    with pytest.raises(ClockError, match="before"):
        clock.resume(paused, at(2024, 11, 18, 10, 59), CAL)
    with pytest.raises(ClockError, match="before"):
        clock.stop(paused, at(2024, 11, 18, 10, 59), CAL)


def test_clock_error_is_a_value_error_and_states_are_immutable():
    running = _running()
    assert issubclass(ClockError, ValueError)
    clock.pause(running, at(2024, 11, 18, 11), CAL)
    assert running.state == "running"
    with pytest.raises(dataclasses.FrozenInstanceError):
        running.state = "paused"


# ---- storage ------------------------------------------------------------------------------------------


def test_round_trip_through_plain_fields():
    state = clock.pause(_running(), at(2024, 11, 18, 11), CAL)
    fields = clock.to_fields(state)
    assert set(fields) == {
        "mode", "budget", "warn_ratio", "state", "started_at", "running_since", "paused_at",
        "stopped_at", "consumed", "due_at", "warn_at", "on_time", "extra_minutes", "extra_consumed",
    }  # fmt: skip
    for value in fields.values():
        assert value is None or isinstance(value, str | int | float | bool | datetime)
    assert clock.from_fields(fields) == state
    assert isinstance(clock.from_fields(fields), ClockState)


def test_from_fields_validates():
    fields = clock.to_fields(_running())
    with pytest.raises(ValueError, match="unknown clock state"):
        clock.from_fields({**fields, "state": "frozen"})
    with pytest.raises(ValueError, match="unknown clock mode"):
        clock.from_fields({**fields, "mode": "weeks"})
    del fields["due_at"]
    with pytest.raises(ValueError, match="missing: due_at"):
        clock.from_fields(fields)


# ---- working days stay working days when the working hours change ---------------------------------------

EIGHT = WorkingCalendar(hours=[("08:00", "12:00"), ("14:00", "18:00")])  # 480-minute working day


def test_working_days_end_at_the_close_of_the_nth_day_under_any_hours():
    # Dispatched Friday evening: 1 and 5 working days end at the close of Monday and of the next Friday,
    # whatever the working day's length when the deadline is (re)computed.
    for cal in (CAL, EIGHT):
        state = clock.start(("working_days", 1), at(2024, 11, 15, 19), cal)
        assert state.budget == 1 and state.due_at == at(2024, 11, 18, 18)
        state = clock.start(("working_days", 5), at(2024, 11, 15, 19), cal)
        assert state.due_at == at(2024, 11, 22, 18)
    started_under_eight = clock.start(("working_days", 5), at(2024, 11, 15, 19), EIGHT)
    assert clock.advance("working_days", started_under_eight.running_since, started_under_eight.budget,
                         CAL) == at(2024, 11, 22, 18)
    # inside working hours: the same clock time on the following working day, under either hours
    state = clock.start(("working_days", 1), at(2024, 11, 18, 10), EIGHT)
    assert state.due_at == at(2024, 11, 19, 10)
    assert clock.advance("working_days", state.running_since, state.budget, CAL) == at(2024, 11, 19, 10)


def test_working_hours_stay_working_hours_when_the_hours_change():
    state = clock.start(("working_hours", 4), at(2024, 11, 15, 19), CAL)
    assert state.budget == 240 and state.due_at == at(2024, 11, 18, 15)  # 08:30-12:00, 14:30-15:00
    assert clock.advance("working_hours", state.running_since, state.budget, EIGHT) == at(2024, 11, 18, 12)


def test_a_pause_of_a_working_days_clock_keeps_the_share_of_the_day_across_an_hours_change():
    state = clock.start(("working_days", 1), at(2024, 11, 18, 8, 30), CAL)
    state = clock.pause(state, at(2024, 11, 18, 12), CAL)  # 08:30-12:00: half of a 420-minute day
    assert state.consumed == 0.5
    state = clock.resume(state, at(2024, 11, 19, 8), EIGHT)  # half of a 480-minute day left
    assert state.due_at == at(2024, 11, 19, 12)
    assert clock.remaining_minutes(state, at(2024, 11, 19, 8), EIGHT) == 240
    stopped = clock.stop(state, at(2024, 11, 19, 10), EIGHT)
    assert stopped.consumed == 0.75 and stopped.on_time is True


def test_extra_minutes_of_a_working_days_clock_stay_minutes_when_the_hours_change():
    # dispatched Friday evening with 1 working day and 210 minutes granted earlier: Monday, then 08:30-12:00
    state = clock.start(("working_days", 1), at(2024, 11, 15, 19), CAL, extra_minutes=210)
    assert (state.budget, state.extra_minutes, state.extra_consumed) == (1, 210, 0)
    assert state.due_at == at(2024, 11, 19, 12)
    # on 480-minute days: Monday still, then 210 minutes from 08:00 (not half of the new day, to 12:00)
    assert clock.due_from(state, state.running_since, EIGHT) == at(2024, 11, 19, 11, 30)
    assert clock.to_fields(state)["extra_minutes"] == 210 and clock.from_fields(clock.to_fields(state)) == state


@pytest.mark.parametrize("cal", [CAL, EIGHT])
def test_an_hours_extension_of_a_working_days_clock_stays_hours_under_any_later_hours(cal):
    # 2 working days from Monday 10:00 on 480-minute days, 4 hours granted on Tuesday 10:00 (one day used)
    state = clock.start(("working_days", 2), at(2024, 11, 18, 10), EIGHT)
    assert state.due_at == at(2024, 11, 20, 10)
    state = clock.extend(state, 240, at(2024, 11, 19, 10), EIGHT)
    assert (state.budget, state.consumed, state.extra_minutes, state.extra_consumed) == (2, 1, 240, 0)
    assert state.state == "running" and state.running_since == at(2024, 11, 19, 10)
    assert state.due_at == at(2024, 11, 20, 16)  # Wednesday 10:00 + 10:00-12:00, 14:00-16:00
    # whatever the hours become: the day left ends at the same clock time, then 240 working minutes
    due = clock.due_from(state, state.running_since, cal)
    assert due == cal.add_working_time(cal.add_working_days(state.running_since, 1), 240)
    assert due == (at(2024, 11, 20, 16, 30) if cal is CAL else at(2024, 11, 20, 16))
    assert clock.remaining_minutes(state, state.running_since, cal) == cal.day_minutes + 240
    # the warning: 80 % of the days and of the hours alike
    assert clock.warn_from(state, state.running_since, cal) == cal.add_working_time(
        state.running_since, 1.6 * cal.day_minutes - cal.day_minutes + 0.8 * 240)


def test_a_working_days_clock_uses_its_days_before_its_extension():
    state = clock.start(("working_days", 1), at(2024, 11, 18, 8, 30), CAL, extra_minutes=120)
    assert state.due_at == at(2024, 11, 19, 10, 30)
    paused = clock.pause(state, at(2024, 11, 19, 9), CAL)  # the day and 30 minutes of the extension
    assert (paused.consumed, paused.extra_consumed) == (1, 30)
    assert clock.consumed_ratio(paused, paused.paused_at, CAL) == pytest.approx(450 / 540)
    resumed = clock.resume(paused, at(2024, 11, 19, 14), EIGHT)  # 90 minutes left, on any working day
    assert resumed.due_at == at(2024, 11, 19, 15, 30)
    assert clock.remaining_minutes(resumed, at(2024, 11, 19, 14), EIGHT) == 90
    stopped = clock.stop(resumed, at(2024, 11, 19, 15), EIGHT)
    assert (stopped.consumed, stopped.extra_consumed, stopped.on_time) == (1, 90, True)


def test_an_extension_after_the_days_ran_out_takes_the_overrun_from_its_hours():
    state = clock.start(("working_days", 1), at(2024, 11, 18, 8, 30), CAL)  # due Monday 18:00
    state = clock.extend(state, 120, at(2024, 11, 19, 9, 30), CAL)  # 60 minutes late when granted
    assert (state.budget, state.consumed, state.extra_minutes, state.extra_consumed) == (1, 1, 120, 60)
    assert state.due_at == at(2024, 11, 19, 10, 30)
    assert clock.due_from(state, state.running_since, EIGHT) == at(2024, 11, 19, 10, 30)  # still 60 minutes


@pytest.mark.parametrize("limit", [("working_hours", 4), ("working_days", 1)])
def test_an_extension_granted_after_the_deadline_runs_on_from_that_deadline(limit):
    """Asked for in time, granted late: the hours are added to the deadline that passed, not to the grant. When
    they cover the time overrun since, the clock runs on to that deadline; when they do not, the new deadline
    lies before the grant (already passed: the clock stays overdue from then, and a stop now is late)."""
    state = clock.start(limit, at(2024, 11, 18, 10), CAL)
    due = state.due_at
    granted = at(2024, 11, 19, 16)
    overrun = CAL.working_minutes_between(due, granted)
    assert overrun > 120

    covered = clock.extend(state, overrun + 60, granted, CAL)
    assert covered.due_at == CAL.add_working_time(due, overrun + 60) == CAL.add_working_time(granted, 60)
    assert clock.stop(covered, covered.due_at, CAL).on_time is True

    short = clock.extend(state, 60, granted, CAL)
    assert short.due_at == CAL.add_working_time(due, 60) < granted
    assert short.warn_at <= short.due_at and short.state == "running"
    assert clock.is_overdue(short, granted) and clock.remaining_minutes(short, granted, CAL) < 0
    assert clock.stop(short, granted + timedelta(minutes=5), CAL).on_time is False
    # paused (挂账) and resumed, it keeps that deadline, as a deadline reached before a pause is kept
    resumed = clock.resume(clock.pause(short, granted + timedelta(minutes=5), CAL), at(2024, 11, 20, 9), CAL)
    assert resumed.due_at == short.due_at


def test_extend_adds_minutes_to_a_minutes_clock_and_waits_for_a_paused_one():
    state = clock.extend(clock.start(("working_hours", 4), at(2024, 11, 18, 10), CAL), 60, at(2024, 11, 18, 11), CAL)
    assert (state.budget, state.extra_minutes) == (300, 0) and state.due_at == at(2024, 11, 18, 17, 30)
    paused = clock.pause(clock.start(("working_days", 1), at(2024, 11, 18, 10), CAL), at(2024, 11, 18, 11), CAL)
    extended = clock.extend(paused, 60, at(2024, 11, 18, 11), CAL)
    assert extended.state == "paused" and extended.due_at is None and extended.extra_minutes == 60
    assert clock.resume(extended, at(2024, 11, 18, 11), CAL).due_at == at(2024, 11, 19, 11)  # 360 + 60
    stopped = clock.stop(extended, at(2024, 11, 18, 12), CAL)
    with pytest.raises(ClockError, match="stopped"):
        clock.extend(stopped, 60, at(2024, 11, 18, 12), CAL)
    with pytest.raises(ValueError, match="positive"):
        clock.extend(paused, 0, at(2024, 11, 18, 12), CAL)
    assert paused == clock.pause(clock.start(("working_days", 1), at(2024, 11, 18, 10), CAL), at(2024, 11, 18, 11), CAL)
