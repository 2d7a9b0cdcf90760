"""Working calendar: which days are working days and how working time adds up.

Pure Python (no Django). The day table comes from ``chinese_calendar`` (statutory holidays and make-up
working days, 调休), overridden by an administrator-edited table; for years the package does not cover
the calendar falls back to Monday–Friday less the statutory holidays that fall on fixed dates of the Gregorian
calendar (``FIXED_HOLIDAYS``), and reports those days as *provisional* (DOMAIN.md §3).

Conventions used throughout:

* Every datetime must be timezone-aware; results are expressed in the district's zone
  (Asia/Shanghai by default).
* Working periods are half-open ``[start, end)`` on the wall clock of every working day.
* ``add_working_time`` returns the **earliest** instant at which the requested working time has
  elapsed, so a budget that runs out exactly at the end of a period lands on that end (12:00, 18:00),
  never on the start of the next period.
* Arithmetic is exact to the microsecond (``timedelta``) and iterates per day, never per minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

DEFAULT_HOURS: tuple[tuple[str, str], ...] = (("08:30", "12:00"), ("14:30", "18:00"))
DISTRICT_TZ = "Asia/Shanghai"

# A run of this many consecutive days without working time means the configuration is broken
# (e.g. an override table that closes a whole year); fail loudly instead of looping for ever.
MAX_IDLE_DAYS = 400

# Days off that every year has on the same Gregorian dates, known before the State Council publishes the year's
# schedule. Source: 国务院《全国年节及纪念日放假办法》(2024年11月修订, 2025年1月1日起施行), 第二条: 元旦 1月1日;
# 劳动节 5月1日、2日; 国庆节 10月1日至3日. The lunar holidays (春节, 清明节, 端午节, 中秋节) and the 调休 around
# them come only with the yearly schedule, entered by an administrator until chinese_calendar has it.
FIXED_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "元旦",
    (5, 1): "劳动节",
    (5, 2): "劳动节",
    (10, 1): "国庆节",
    (10, 2): "国庆节",
    (10, 3): "国庆节",
}

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ONE_DAY = timedelta(days=1)


class HoursError(ValueError):
    """Working hours that cannot be used, said in both languages: `zh` and `en` name the period and what is wrong
    with it (the exception's own text is the English)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"working hours: {en}")
        self.zh, self.en = zh, en


def _shown(value: object) -> str:
    return str(value)[:20]


def _parse_hhmm(value: object, number: int, which: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        said = "开始" if which == "start" else "结束"
        raise HoursError(
            f"第 {number} 段的{said}时间“{_shown(value)}”不是 00:00 至 23:59 之间的时刻，请写成 08:30 这样的 HH:MM",
            f"{which} of period #{number} must be an 'HH:MM' string between 00:00 and 23:59, got {value!r}",
        )
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


def parse_hours(hours: Iterable[Iterable[str]]) -> tuple[tuple[time, time], ...]:
    """Validate ``[("08:30", "12:00"), ...]`` and return it as ``(time, time)`` pairs.

    Periods must be non-empty, each start before its end, sorted and non-overlapping (touching is
    allowed). Raises ``HoursError`` (a ``ValueError``) naming the offending period otherwise.
    """
    periods: list[tuple[time, time]] = []
    for index, pair in enumerate(hours or ()):
        number = index + 1
        items = tuple(pair) if not isinstance(pair, str) else (pair,)
        if len(items) != 2:
            raise HoursError(f"第 {number} 段须是开始、结束两个时刻", f"period #{number} must be a (start, end) pair, "
                                                                f"got {pair!r}")
        start = _parse_hhmm(items[0], number, "start")
        end = _parse_hhmm(items[1], number, "end")
        if start >= end:
            raise HoursError(f"第 {number} 段 {items[0]}-{items[1]} 的开始时间须早于结束时间",
                             f"period #{number} {items[0]}-{items[1]} must start before it ends")
        if periods and start < periods[-1][1]:
            prev = f"{periods[-1][0]:%H:%M}-{periods[-1][1]:%H:%M}"
            raise HoursError(
                f"第 {number} 段 {items[0]}-{items[1]} 与前一段 {prev} 重叠或排在它之前：各时段须按先后排列，互不重叠",
                f"period #{number} {items[0]}-{items[1]} overlaps or precedes {prev}; periods must be sorted and "
                "must not overlap",
            )
        periods.append((start, end))
    if not periods:
        raise HoursError("至少要有一个工作时段", "at least one (start, end) period is required")
    return tuple(periods)


def _package_years() -> tuple[int, int]:
    """First and last year for which chinese_calendar has an announced holiday table."""
    table = getattr(chinese_calendar, "holidays", None)
    if table:
        return min(table).year, max(table).year
    # Fallback if the package stops exporting its table: probe for NotImplementedError.
    first = last = None
    for year in range(1990, 2200):
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            continue
        first = first or year
        last = year
    if first is None or last is None:
        raise RuntimeError("chinese_calendar reports no supported year")
    return first, last


@cache
def _package_workday(d: date) -> bool | None:
    """chinese_calendar's answer for ``d``, or None for a year it does not cover.

    Cached process-wide: the package's own lookup scans its whole table on every call (~50 µs).
    """
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


def _as_minutes(delta: timedelta) -> int | float:
    """Minutes in ``delta``: an int when whole, else a float."""
    micro = delta // timedelta(microseconds=1)
    return micro // 60_000_000 if micro % 60_000_000 == 0 else micro / 60_000_000


def _to_delta(minutes: int | float, what: str) -> timedelta:
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise TypeError(f"{what} must be a number of minutes, got {minutes!r}")
    if minutes < 0 or minutes != minutes:
        raise ValueError(f"{what} must be zero or positive, got {minutes!r}")
    return timedelta(minutes=minutes)


class WorkingCalendar:
    """Working days (holidays, 调休, overrides) and working hours of one district.

    ``hours`` are the daily working periods (same on every working day); ``overrides`` maps a date to
    ``True`` (working day) or ``False`` (day off) and wins over everything; ``holiday_names`` gives
    display names to dates (typically the overridden ones). ``tz`` is the district's IANA zone.
    """

    def __init__(
        self,
        hours: Iterable[Iterable[str]] = DEFAULT_HOURS,
        overrides: Mapping[date, bool] | None = None,
        holiday_names: Mapping[date, str] | None = None,
        *,
        tz: str = DISTRICT_TZ,
    ) -> None:
        self.periods = parse_hours(hours)
        self.hours = tuple((f"{s:%H:%M}", f"{e:%H:%M}") for s, e in self.periods)
        self.overrides: dict[date, bool] = {}
        for day, is_work in (overrides or {}).items():
            if isinstance(day, datetime) or not isinstance(day, date):
                raise ValueError(f"overrides: keys must be dates, got {day!r}")
            self.overrides[day] = bool(is_work)
        self.holiday_names: dict[date, str] = dict(holiday_names or {})
        self.tz = ZoneInfo(tz)
        self._first_year, self._last_year = _package_years()
        # date -> (is_workday, is_provisional); a calendar is immutable once built, so never invalidated.
        self._day_cache: dict[date, tuple[bool, bool]] = {}
        self._span_cache: dict[date, timedelta] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar(hours={list(self.hours)!r}, overrides={len(self.overrides)} dates, tz={self.tz.key!r})"

    # ---- days -----------------------------------------------------------------------------------

    @property
    def day_minutes(self) -> int:
        """Working minutes in one working day (420 with the default hours)."""
        return sum((e.hour * 60 + e.minute) - (s.hour * 60 + s.minute) for s, e in self.periods)

    def _day(self, d: date) -> tuple[bool, bool]:
        if isinstance(d, datetime):
            d = self.localize(d).date()
        cached = self._day_cache.get(d)
        if cached is None:
            if d in self.overrides:
                cached = (self.overrides[d], False)
            else:
                known = _package_workday(d)
                if known is None:
                    cached = (d.weekday() < 5 and (d.month, d.day) not in FIXED_HOLIDAYS, True)
                else:
                    cached = (known, False)
            self._day_cache[d] = cached
        return cached

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day: override, else chinese_calendar, else Monday–Friday less
        ``FIXED_HOLIDAYS``."""
        return self._day(d)[0]

    def is_provisional(self, d: date) -> bool:
        """True when ``is_workday(d)`` came from the fallback (year not covered, no override)."""
        return self._day(d)[1]

    def covered_until(self) -> date:
        """Last date chinese_calendar knows (31 December of the last announced year)."""
        return date(self._last_year, 12, 31)

    def covered_from(self) -> date:
        """First date chinese_calendar knows (1 January of its first year)."""
        return date(self._first_year, 1, 1)

    def holiday_name(self, d: date) -> str | None:
        """Display name of the day off ``d`` belongs to: the administrator's name, else the statutory
        holiday's Chinese name; None for ordinary days, weekends and make-up working days."""
        if d in self.holiday_names:
            return self.holiday_names[d]
        if self.is_workday(d) or d in self.overrides:
            return None
        if self.is_provisional(d):
            return FIXED_HOLIDAYS.get((d.month, d.day))
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            return None
        if not on_holiday or not name:
            return None
        try:
            return chinese_calendar.Holiday(name).chinese
        except ValueError:
            return str(name)

    # ---- instants -------------------------------------------------------------------------------

    def localize(self, moment: datetime) -> datetime:
        """``moment`` expressed in the district zone; naive datetimes are refused."""
        if not isinstance(moment, datetime):
            raise TypeError(f"expected a datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"datetime {moment.isoformat()} is naive; pass a timezone-aware datetime")
        return moment.astimezone(self.tz)

    def _shift(self, moment: datetime, delta: timedelta) -> datetime:
        # Absolute-time addition (through UTC) so a zone with DST would still be right.
        return (moment.astimezone(UTC) + delta).astimezone(self.tz)

    def _periods_on(self, d: date) -> list[tuple[datetime, datetime]]:
        # In UTC: differences between UTC datetimes are true elapsed time even where the zone has DST.
        return [
            (
                datetime.combine(d, s, tzinfo=self.tz).astimezone(UTC),
                datetime.combine(d, e, tzinfo=self.tz).astimezone(UTC),
            )
            for s, e in self.periods
        ]

    def _working_time_on(self, d: date) -> timedelta:
        """Working time of the whole day ``d`` (zero on days off), cached per date."""
        span = self._span_cache.get(d)
        if span is None:
            span = timedelta(0)
            if self.is_workday(d):
                span = sum((e - s for s, e in self._periods_on(d)), span)
            self._span_cache[d] = span
        return span

    def _utc(self, moment: datetime) -> datetime:
        return self.localize(moment).astimezone(UTC)

    def is_working_time(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside a working period ``[start, end)`` of a working day."""
        local = self.localize(moment)
        if not self.is_workday(local.date()):
            return False
        return any(s <= local < e for s, e in self._periods_on(local.date()))

    def next_working_start(self, moment: datetime) -> datetime:
        """``moment`` itself if it is working time, else the start of the next working period."""
        local = self.localize(moment)
        d = local.date()
        for _ in range(MAX_IDLE_DAYS):
            if self.is_workday(d):
                for s, e in self._periods_on(d):
                    if local < e:
                        return max(s, local).astimezone(self.tz)
            d += _ONE_DAY
        raise ValueError(f"no working time within {MAX_IDLE_DAYS} days after {local.isoformat()}")

    # ---- arithmetic -----------------------------------------------------------------------------

    def add_working_time(self, start: datetime, minutes: int | float) -> datetime:
        """The earliest instant at which ``minutes`` working minutes have elapsed since ``start``.

        Only working periods of working days count; a ``start`` outside working time begins counting
        at the next period start. ``minutes == 0`` returns ``start`` (in the district zone).
        """
        remaining = _to_delta(minutes, "minutes")
        local = self.localize(start)
        if not remaining:
            return local
        day = local.date()
        cursor = local.astimezone(UTC)
        first_day, idle = True, 0
        while True:
            span = self._working_time_on(day)
            if span:
                idle = 0
                if not first_day and remaining > span:
                    remaining -= span  # a whole working day, skipped in one step
                else:
                    for s, e in self._periods_on(day):
                        if e <= cursor:
                            continue
                        begin = max(s, cursor)
                        available = e - begin
                        if remaining <= available:
                            return self._shift(begin, remaining)
                        remaining -= available
            else:
                idle += 1
                if idle > MAX_IDLE_DAYS:
                    raise ValueError(f"no working time within {MAX_IDLE_DAYS} days before {day.isoformat()}")
            day += _ONE_DAY
            first_day = False

    def add_working_days(self, start: datetime, days: int | float) -> datetime:
        """The deadline ``days`` working days after ``start``: ``add_working_time(start, days × day_minutes)``.

        For a ``start`` strictly inside a working period this is the same clock time on the ``days``-th
        following working day (Mon 10:00 + 1 → Tue 10:00). Outside working time counting begins at the
        next period start and, like all additions, the result is the earliest instant the time has
        elapsed: Saturday 10:00 + 1 → Monday 18:00 (not Tuesday 08:30), lunch 13:00 + 1 → next working
        day 12:00, Monday 08:30 + 1 → Monday 18:00.
        """
        if isinstance(days, bool) or not isinstance(days, int | float):
            raise TypeError(f"days must be a number, got {days!r}")
        if days < 0:
            raise ValueError(f"days must be zero or positive, got {days!r}")
        return self.add_working_time(start, days * self.day_minutes)

    def add_natural(self, start: datetime, minutes: int | float) -> datetime:
        """``start`` plus ``minutes`` of elapsed (natural, 24×7) time."""
        return self._shift(self.localize(start), _to_delta(minutes, "minutes"))

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time elapsed from ``a`` to ``b`` as an exact timedelta (zero if ``b <= a``)."""
        total = timedelta(0)
        if self._utc(b) <= self._utc(a):
            return total
        first, last = self.localize(a).date(), self.localize(b).date()
        a, b = self._utc(a), self._utc(b)
        for day in (first, last) if first != last else (first,):
            if self.is_workday(day):
                for s, e in self._periods_on(day):
                    lo, hi = max(s, a), min(e, b)
                    if hi > lo:
                        total += hi - lo
        day = first + _ONE_DAY
        while day < last:  # whole days in between: cached per-day totals
            total += self._working_time_on(day)
            day += _ONE_DAY
        return total

    def working_minutes_between(self, a: datetime, b: datetime) -> int | float:
        """Working minutes elapsed from ``a`` to ``b`` (0 if ``b <= a``); int when whole, else float.

        Inverse of ``add_working_time``: ``working_minutes_between(a, add_working_time(a, m)) == m``.
        """
        return _as_minutes(self.working_time_between(a, b))

    def natural_minutes_between(self, a: datetime, b: datetime) -> int | float:
        """Elapsed minutes from ``a`` to ``b`` (0 if ``b <= a``); int when whole, else float."""
        return _as_minutes(max(self._utc(b) - self._utc(a), timedelta(0)))
