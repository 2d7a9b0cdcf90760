"""Working calendar: day table (holidays, 调休, overrides, provisional years) and time arithmetic."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicgrid.foundation.sla import calendar as calendar_module
from civicgrid.foundation.sla.calendar import WorkingCalendar

SH = ZoneInfo("Asia/Shanghai")


def at(y, mo, d, h=0, mi=0, s=0):
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


@pytest.fixture(scope="module")
def cal():
    return WorkingCalendar()


# ---- days -------------------------------------------------------------------------------------------


def test_national_day_2024_and_its_make_up_days(cal):
    for day in range(1, 8):
        assert not cal.is_workday(date(2024, 10, day)), f"2024-10-0{day} is National Day"
    assert cal.is_workday(date(2024, 9, 29))  # Sunday, make-up working day (调休)
    assert cal.is_workday(date(2024, 10, 12))  # Saturday, make-up working day
    assert not cal.is_workday(date(2024, 10, 13))  # ordinary Sunday
    assert cal.is_workday(date(2024, 10, 8))
    assert not cal.is_provisional(date(2024, 10, 1))
    assert cal.holiday_name(date(2024, 10, 3)) == "国庆节"
    assert cal.holiday_name(date(2024, 9, 29)) is None
    assert cal.holiday_name(date(2024, 10, 13)) is None


def test_spring_festival_2025(cal):
    off = [date(2025, 1, 28) + timedelta(days=i) for i in range(8)]  # 28 Jan .. 4 Feb
    assert [cal.is_workday(d) for d in off] == [False] * 8
    assert cal.is_workday(date(2025, 1, 26))  # Sunday make-up day
    assert cal.is_workday(date(2025, 2, 8))  # Saturday make-up day
    assert cal.is_workday(date(2025, 2, 5))
    assert cal.holiday_name(date(2025, 1, 29)) == "春节"


def test_override_table_wins_over_chinese_calendar():
    overrides = {date(2024, 10, 3): True, date(2024, 11, 18): False, date(2024, 11, 16): True}
    cal = WorkingCalendar(overrides=overrides, holiday_names={date(2024, 11, 18): "防汛停工"})
    assert cal.is_workday(date(2024, 10, 3))  # National Day made a working day
    assert not cal.is_workday(date(2024, 11, 18))  # a Monday closed
    assert cal.is_workday(date(2024, 11, 16))  # a Saturday opened
    assert not cal.is_provisional(date(2024, 11, 18))
    assert cal.holiday_name(date(2024, 11, 18)) == "防汛停工"
    # Friday 16:00 + 4 h: Fri 2 h, Saturday (opened) 2 h; Monday (closed) never reached.
    assert cal.add_working_time(at(2024, 11, 15, 16), 240) == at(2024, 11, 16, 10, 30)
    # Friday 16:00 + 8 h: Fri 2 h, Saturday morning 3.5 h, afternoon 2.5 h → Saturday 17:00.
    assert cal.add_working_time(at(2024, 11, 15, 16), 480) == at(2024, 11, 16, 17)
    # Saturday 18:00 + 1 h skips Sunday and the closed Monday.
    assert cal.add_working_time(at(2024, 11, 16, 18), 60) == at(2024, 11, 19, 9, 30)


def test_years_beyond_coverage_fall_back_to_weekends_and_are_provisional(cal):
    last = cal.covered_until()
    assert last == date(max(chinese_calendar.holidays).year, 12, 31)
    assert not cal.is_provisional(last)
    assert cal.is_provisional(last + timedelta(days=1))
    assert cal.is_workday(date(2031, 1, 2))  # a Thursday
    assert cal.is_provisional(date(2031, 1, 2))
    assert not cal.is_workday(date(2031, 1, 4))  # Saturday
    assert cal.is_provisional(date(2031, 1, 4))
    assert cal.is_provisional(date(1999, 6, 1))  # before the package's first year too
    assert cal.holiday_name(date(2031, 1, 4)) is None
    # Friday 2031-01-03 16:00 + 4 h → Monday 2031-01-06 10:30 on the fallback.
    assert cal.add_working_time(at(2031, 1, 3, 16), 240) == at(2031, 1, 6, 10, 30)


def test_the_fallback_keeps_the_holidays_on_fixed_dates(cal):
    """元旦, 劳动节 (1–2 May) and 国庆节 (1–3 October) fall on the same dates every year (国务院《全国年节及纪念日放假
    办法》, 2024 revision): a year not yet announced has them off, provisionally and by name; a lunar holiday it
    cannot know (春节) stays a working day until an administrator enters it."""
    first = cal.covered_until().year + 1
    for year in (first, 2031):
        for month, day, name in ((1, 1, "元旦"), (5, 1, "劳动节"), (5, 2, "劳动节"),
                                 (10, 1, "国庆节"), (10, 2, "国庆节"), (10, 3, "国庆节")):
            d = date(year, month, day)
            assert not cal.is_workday(d) and cal.is_provisional(d), d
            assert cal.holiday_name(d) == name, d
    assert cal.is_workday(date(2031, 10, 6)) and cal.holiday_name(date(2031, 10, 6)) is None  # a Monday
    # 2031-01-01 is a Wednesday: Tuesday 2030-12-31 16:00 + 1 working day → Thursday 16:00.
    assert cal.add_working_days(at(2030, 12, 31, 16), 1) == at(2031, 1, 2, 16)
    # Wednesday 2031-04-30 16:00 + 4 working hours skips 1–2 May and the weekend → Monday 5 May 10:30.
    assert cal.add_working_time(at(2031, 4, 30, 16), 240) == at(2031, 5, 5, 10, 30)


def test_override_in_a_provisional_year_is_authoritative():
    cal = WorkingCalendar(overrides={date(2031, 1, 1): True, date(2031, 1, 2): False},
                          holiday_names={date(2031, 1, 2): "元旦补休"})
    assert cal.is_workday(date(2031, 1, 1)) and not cal.is_provisional(date(2031, 1, 1))
    assert cal.holiday_name(date(2031, 1, 1)) is None
    assert not cal.is_workday(date(2031, 1, 2))
    assert not cal.is_provisional(date(2031, 1, 2))
    assert cal.holiday_name(date(2031, 1, 2)) == "元旦补休"
    assert cal.is_provisional(date(2031, 1, 3))


def test_is_workday_is_cached_per_date(monkeypatch):
    calls = []
    real = chinese_calendar.is_workday

    def counting(d):
        calls.append(d)
        return real(d)

    monkeypatch.setattr(calendar_module.chinese_calendar, "is_workday", counting)
    calendar_module._package_workday.cache_clear()
    cal = WorkingCalendar()
    for _ in range(5):
        cal.is_workday(date(2024, 10, 1))
        cal.is_provisional(date(2024, 10, 1))
    cal.add_working_days(at(2024, 9, 30, 10), 15)
    cal.add_working_days(at(2024, 9, 30, 10), 15)
    assert calls.count(date(2024, 10, 1)) == 1
    assert len(calls) == len(set(calls))
    WorkingCalendar().is_workday(date(2024, 10, 1))  # the package's answer is shared by all calendars
    assert calls.count(date(2024, 10, 1)) == 1
    calendar_module._package_workday.cache_clear()


def test_overrides_must_be_keyed_by_dates():
    with pytest.raises(ValueError, match="keys must be dates"):
        WorkingCalendar(overrides={"2024-10-01": True})


# ---- add_working_time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        (at(2024, 11, 15, 16), 240, at(2024, 11, 18, 10, 30)),  # Friday 16:00 + 4 h → Monday
        (at(2024, 9, 27, 16), 240, at(2024, 9, 29, 10, 30)),  # → Sunday make-up working day
        (at(2024, 9, 30, 16), 240, at(2024, 10, 8, 10, 30)),  # over National Day
        (at(2025, 1, 27, 17), 120, at(2025, 2, 5, 9, 30)),  # over Spring Festival
        (at(2024, 11, 18, 11), 120, at(2024, 11, 18, 15, 30)),  # across the lunch break
        (at(2024, 11, 18, 10), 120, at(2024, 11, 18, 12)),  # ends exactly at noon: 12:00, not 14:30
        (at(2024, 11, 18, 14, 30), 210, at(2024, 11, 18, 18)),  # ends exactly at 18:00
        (at(2024, 11, 18, 7), 30, at(2024, 11, 18, 9)),  # before work: counts from 08:30
        (at(2024, 11, 18, 13), 30, at(2024, 11, 18, 15)),  # in the lunch break: counts from 14:30
        (at(2024, 11, 18, 12), 30, at(2024, 11, 18, 15)),  # at 12:00 sharp (period end): from 14:30
        (at(2024, 11, 15, 19), 30, at(2024, 11, 18, 9)),  # Friday evening
        (at(2024, 11, 16, 10), 30, at(2024, 11, 18, 9)),  # Saturday
        (at(2024, 10, 3, 10), 30, at(2024, 10, 8, 9)),  # on a holiday
        (at(2024, 11, 18, 10, 0, 30), 1.5, at(2024, 11, 18, 10, 2)),  # seconds and fractional minutes
        (at(2024, 11, 18, 8, 30), 12000, at(2024, 12, 26, 15)),  # 200 working hours
    ],
)
def test_add_working_time(cal, start, minutes, expected):
    result = cal.add_working_time(start, minutes)
    assert result == expected
    assert result.tzinfo == SH


def test_add_zero_returns_start_even_outside_working_time(cal):
    assert cal.add_working_time(at(2024, 11, 16, 10), 0) == at(2024, 11, 16, 10)


def test_inputs_in_other_zones_are_converted_to_the_district_zone(cal):
    start = datetime(2024, 11, 18, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    result = cal.add_working_time(start, 60)
    assert result == at(2024, 11, 18, 11)
    assert result.utcoffset() == timedelta(hours=8)
    assert cal.working_minutes_between(start, at(2024, 11, 18, 11)) == 60


def test_naive_datetimes_and_negative_minutes_are_refused(cal):
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_time(datetime(2024, 11, 18, 10), 60)
    with pytest.raises(ValueError, match="naive"):
        cal.working_minutes_between(datetime(2024, 11, 18, 10), at(2024, 11, 18, 11))
    with pytest.raises(ValueError, match="zero or positive"):
        cal.add_working_time(at(2024, 11, 18, 10), -1)
    with pytest.raises(ValueError, match="zero or positive"):
        cal.add_working_days(at(2024, 11, 18, 10), -1)
    with pytest.raises(TypeError):
        cal.add_working_time(at(2024, 11, 18, 10), "60")


def test_long_additions_stay_exact(cal):
    for _ in range(2):
        assert cal.add_working_days(at(2024, 9, 30, 10), 15) == at(2024, 10, 25, 10)
        assert cal.add_working_time(at(2024, 11, 18, 8, 30), 200 * 60) == at(2024, 12, 26, 15)
    far = cal.add_working_days(at(2024, 1, 2, 9), 2000)  # about eight years, into provisional years
    assert cal.working_minutes_between(at(2024, 1, 2, 9), far) == 2000 * 420


# ---- add_working_days and natural time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (at(2024, 11, 18, 10), 1, at(2024, 11, 19, 10)),  # same clock time next working day
        (at(2024, 11, 15, 10), 1, at(2024, 11, 18, 10)),  # Friday → Monday
        (at(2024, 9, 30, 10), 1, at(2024, 10, 8, 10)),  # over National Day
        (at(2024, 9, 30, 10), 5, at(2024, 10, 12, 10)),  # 5th working day is the make-up Saturday
        (at(2024, 9, 30, 10), 15, at(2024, 10, 25, 10)),
        (at(2025, 1, 27, 9), 1, at(2025, 2, 5, 9)),  # over Spring Festival
        (at(2024, 11, 16, 10), 1, at(2024, 11, 18, 18)),  # Saturday: one full day = Monday's close
        (at(2024, 11, 18, 7), 1, at(2024, 11, 18, 18)),  # before work: that same day's close
        (at(2024, 11, 18, 8, 30), 1, at(2024, 11, 18, 18)),  # at opening: that same day's close
        (at(2024, 11, 18, 13), 1, at(2024, 11, 19, 12)),  # lunch: from 14:30, due next day 12:00
        (at(2024, 11, 18, 18), 2, at(2024, 11, 20, 18)),  # at closing: counts from next morning
        (at(2024, 11, 18, 10), 0.5, at(2024, 11, 18, 16)),  # half a day = 210 working minutes
        (at(2024, 11, 18, 10), 0, at(2024, 11, 18, 10)),
    ],
)
def test_add_working_days(cal, start, days, expected):
    assert cal.add_working_days(start, days) == expected


def test_add_natural(cal):
    assert cal.add_natural(at(2024, 11, 15, 22), 360) == at(2024, 11, 16, 4)
    assert cal.add_natural(at(2024, 10, 1, 10), 90) == at(2024, 10, 1, 11, 30)  # holidays don't matter
    assert cal.natural_minutes_between(at(2024, 10, 1, 10), at(2024, 10, 1, 11, 30)) == 90


# ---- working_minutes_between --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (at(2024, 11, 15, 16), at(2024, 11, 18, 10, 30), 240),
        (at(2024, 9, 30, 16), at(2024, 10, 8, 10, 30), 240),
        (at(2024, 11, 18, 12, 10), at(2024, 11, 18, 14, 0), 0),  # inside the lunch break
        (at(2024, 11, 18, 11), at(2024, 11, 18, 11), 0),
        (at(2024, 11, 18, 11), at(2024, 11, 18, 10), 0),  # b before a
        (at(2024, 11, 18, 7), at(2024, 11, 18, 20), 420),
        (at(2024, 11, 18, 10), at(2024, 11, 18, 10, 0, 30), 0.5),
    ],
)
def test_working_minutes_between(cal, a, b, expected):
    result = cal.working_minutes_between(a, b)
    assert result == expected
    assert isinstance(result, int) == float(expected).is_integer()


def _oracle_add(cal, start, minutes):
    """Brute force: walk whole minutes of working days, counting those inside the configured hours."""
    periods = [(s.hour * 60 + s.minute, e.hour * 60 + e.minute) for s, e in cal.periods]
    day, minute = start.date(), start.hour * 60 + start.minute
    counted = 0
    while True:
        if cal.is_workday(day):
            for mm in range(minute, 1440):
                if any(s <= mm < e for s, e in periods):
                    counted += 1
                    if counted == minutes:
                        return datetime.combine(day, datetime.min.time(), tzinfo=SH) + timedelta(
                            minutes=mm + 1
                        )
        day, minute = day + timedelta(days=1), 0


SHARED = WorkingCalendar()  # long-lived like the service's calendar, so its per-date caches warm up
whole_minute_starts = st.datetimes(min_value=datetime(2023, 12, 20), max_value=datetime(2027, 1, 20)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=SH)
)
any_starts = st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2032, 12, 1)).map(
    lambda d: d.replace(tzinfo=SH)
)


@settings(max_examples=150, deadline=None)
@given(start=any_starts, minutes=st.integers(min_value=0, max_value=60_000))
def test_working_minutes_between_inverts_add_working_time(start, minutes):
    cal = SHARED
    end = cal.add_working_time(start, minutes)
    assert end >= start
    assert cal.working_minutes_between(start, end) == minutes


@settings(max_examples=150, deadline=None)
@given(start=any_starts, seconds=st.integers(min_value=1, max_value=3_000_000))
def test_inverse_holds_to_the_second(start, seconds):
    cal = SHARED
    minutes = seconds / 60
    end = cal.add_working_time(start, minutes)
    assert cal.working_time_between(start, end) == timedelta(seconds=seconds)
    assert cal.working_minutes_between(start, end) == pytest.approx(minutes, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(start=whole_minute_starts, minutes=st.integers(min_value=1, max_value=1500))
def test_add_working_time_matches_minute_by_minute_oracle(start, minutes):
    cal = SHARED
    assert cal.add_working_time(start, minutes) == _oracle_add(cal, start, minutes)


@settings(max_examples=100, deadline=None)
@given(a=any_starts, b=any_starts)
def test_working_time_is_additive(a, b):
    cal = SHARED
    a, b = min(a, b), max(a, b)
    mid = a + (b - a) / 3
    assert cal.working_time_between(a, b) == cal.working_time_between(a, mid) + cal.working_time_between(
        mid, b
    )


@settings(max_examples=100, deadline=None)
@given(a=any_starts, b=any_starts)
def test_adding_the_measured_time_lands_on_b_when_b_is_working_time(a, b):
    cal = SHARED
    a, b = min(a, b), max(a, b)
    elapsed = cal.working_time_between(a, b)
    end = cal.add_working_time(a, elapsed / timedelta(minutes=1))
    if elapsed and cal.is_working_time(b) and cal.next_working_start(b - timedelta(microseconds=1)) != b:
        assert end == b
    else:
        assert end <= b and cal.working_time_between(end, b) == timedelta(0)


# ---- configuration ------------------------------------------------------------------------------------


def test_custom_hours():
    cal = WorkingCalendar(hours=[("09:00", "17:00")])
    assert cal.day_minutes == 480
    assert cal.add_working_time(at(2024, 11, 15, 16), 120) == at(2024, 11, 18, 10)
    assert cal.add_working_days(at(2024, 11, 15, 16), 1) == at(2024, 11, 18, 16)
    touching = WorkingCalendar(hours=[("08:00", "12:00"), ("12:00", "13:00")])
    assert touching.add_working_time(at(2024, 11, 18, 11), 90) == at(2024, 11, 18, 12, 30)


def test_default_hours(cal):
    assert cal.hours == (("08:30", "12:00"), ("14:30", "18:00"))
    assert cal.day_minutes == 420


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([("12:00", "08:30")], "must start before it ends"),
        ([("08:30", "08:30")], "must start before it ends"),
        ([("08:30", "12:00"), ("11:00", "13:00")], "overlaps"),
        ([("14:30", "18:00"), ("08:30", "12:00")], "must be sorted"),
        ([("8:30", "12:00")], "'HH:MM'"),
        ([("08:30", "24:00")], "'HH:MM'"),
        ([("08:60", "12:00")], "'HH:MM'"),
        ([(830, "12:00")], "'HH:MM'"),
        ([("08:30", "12:00", "13:00")], "pair"),
        (["08:30"], "pair"),
        ([], "at least one"),
    ],
)
def test_bad_hours_are_refused_with_a_clear_message(hours, message):
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(hours=hours)


def test_working_time_predicates(cal):
    assert cal.is_working_time(at(2024, 11, 18, 8, 30))
    assert not cal.is_working_time(at(2024, 11, 18, 12))  # periods are half-open
    assert not cal.is_working_time(at(2024, 10, 3, 10))
    assert cal.next_working_start(at(2024, 11, 18, 10)) == at(2024, 11, 18, 10)
    assert cal.next_working_start(at(2024, 11, 18, 12)) == at(2024, 11, 18, 14, 30)
    assert cal.next_working_start(at(2024, 9, 30, 18)) == at(2024, 10, 8, 8, 30)


def test_a_calendar_without_working_days_fails_loudly_instead_of_looping():
    closed = {date(2031, 1, 1) + timedelta(days=i): False for i in range(500)}
    cal = WorkingCalendar(overrides=closed)
    with pytest.raises(ValueError, match="no working time within"):
        cal.add_working_time(at(2031, 1, 1, 9), 60)
    with pytest.raises(ValueError, match="no working time within"):
        cal.next_working_start(at(2031, 1, 1, 9))
