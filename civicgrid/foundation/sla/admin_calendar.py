"""The district's working calendar as configured in the database, and the administrator's edits to it.

``get_calendar()`` builds a ``WorkingCalendar`` from ``CalendarSettings`` (working hours) and the
``CalendarDay`` overrides. Building it costs a few queries and the calendar caches per-day answers, so
each process keeps the one it built and only compares a version token (one primary-key read) on later
calls; every edit goes through the services below, which write a new token in the same transaction, so
all processes pick the change up on their next call.

Edits are audited (``config.changed``). A change of the day table or the hours moves the deadlines of
open clocks that it affects: ``sweep.reschedule_open_clocks`` runs after commit (as a background task).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..access.scope import has_capability
from ..audit.service import record
from ..audit.verbs import Config
from ..core.errors import PermissionDenied, ValidationFailed
from .calendar import DEFAULT_HOURS, HoursError, WorkingCalendar, parse_hours
from .calendar_text import DEFAULT, HOLIDAY, KINDS, NAME_MAX, WORKDAY, DayChange, parse_schedule
from .models import CalendarDay, CalendarSettings

SETTINGS_PK = 1
CAPABILITY = "config.manage"

_lock = threading.Lock()
_built: dict[str, object] = {"version": None, "calendar": None, "confirmed": frozenset(), "checked_at": 0.0}


# ---- reading -------------------------------------------------------------------------------------------


def _current_version() -> str:
    # Read on every clock start (each report): plain SQL, without the ORM's query building.
    with connection.cursor() as cur:
        cur.execute(f"SELECT version FROM {CalendarSettings._meta.db_table} WHERE id = %s", [SETTINGS_PK])
        row = cur.fetchone()
    return (row[0] if row else "") or ""


def _recheck_seconds() -> float:
    default = 0.0 if getattr(settings, "TESTING", False) else 2.0
    return float(getattr(settings, "CIVICGRID_CALENDAR_RECHECK_SECONDS", default))


def get_calendar() -> WorkingCalendar:
    """The district's working calendar (hours + overrides), rebuilt only when an edit changed it. The version
    token is compared at most every `CIVICGRID_CALENDAR_RECHECK_SECONDS` (2 s; 0 under tests): an edit
    reaches its own process at once (`forget_calendar`) and the others within that time."""
    now = time.monotonic()
    with _lock:
        if _built["calendar"] is not None and _built["checked_at"] > now - _recheck_seconds():
            return _built["calendar"]  # type: ignore[return-value]
    version = _current_version()
    with _lock:
        if _built["calendar"] is not None and _built["version"] == version:
            _built["checked_at"] = now
            return _built["calendar"]  # type: ignore[return-value]
    row = CalendarSettings.objects.filter(pk=SETTINGS_PK).first()
    days = list(CalendarDay.objects.values_list("date", "is_workday", "name"))
    calendar = WorkingCalendar(
        hours=row.periods if row else DEFAULT_HOURS,
        overrides={d: w for d, w, _ in days},
        holiday_names={d: n for d, w, n in days if n},
        tz=settings.TIME_ZONE,
    )
    with _lock:
        _built.update(
            version=version, calendar=calendar, confirmed=frozenset(row.confirmed_years if row else ()),
            checked_at=now,
        )
    return calendar


def confirmed_years() -> frozenset[int]:
    """Years beyond chinese_calendar's coverage that an administrator has declared complete."""
    get_calendar()
    return _built["confirmed"]  # type: ignore[return-value]


def forget_calendar() -> None:
    """Drop this process's built calendar (tests; the version token handles everything else)."""
    with _lock:
        _built.update(version=None, calendar=None, confirmed=frozenset(), checked_at=0.0)


@dataclass
class CalendarStatus:
    """Whether a date range relies on guessed (provisional) working days, for a banner in the UI."""

    start: date
    end: date
    covered_until: date
    provisional: bool
    provisional_years: list[int] = field(default_factory=list)
    first_provisional_day: date | None = None
    overrides: int = 0

    @property
    def message(self) -> str:
        if not self.provisional:
            return ""
        years = "、".join(str(y) for y in self.provisional_years)
        return (
            f"{years}年的法定节假日尚未公布或录入，工作日暂按周一至周五计算（已扣除元旦、劳动节、国庆节等固定日期的法定假日；"
            f"春节等农历节日及调休须录入），相关时限可能变化。"
            f" / The {years} holiday table is not yet known: working days are provisional (Monday–Friday less the"
            f" fixed-date holidays: New Year's Day, Labour Day, National Day; enter the lunar holidays and make-up days)."
        )


def calendar_status(start: date | None = None, end: date | None = None) -> CalendarStatus:
    """Whether ``[start, end]`` (default: today and the next 365 days) contains provisional days.

    A day is provisional when chinese_calendar does not cover its year, no administrator override
    exists for it, and its year has not been confirmed as complete (``confirm_year``).
    """
    start = start or timezone.localdate()
    end = end or start + timedelta(days=365)
    calendar = get_calendar()
    confirmed = confirmed_years()
    status = CalendarStatus(start=start, end=end, covered_until=calendar.covered_until(), provisional=False)
    status.overrides = CalendarDay.objects.filter(date__gte=start, date__lte=end).count()
    day = max(start, calendar.covered_until() + timedelta(days=1))
    while day <= end:  # only the uncovered tail is examined, at most a year or two of days
        if day.year in confirmed:
            day = date(day.year + 1, 1, 1)
            continue
        if calendar.is_provisional(day):
            status.provisional = True
            status.first_provisional_day = status.first_provisional_day or day
            if day.year not in status.provisional_years:
                status.provisional_years.append(day.year)
        day += timedelta(days=1)
    return status


def is_provisional(day: date) -> bool:
    """Whether the working-day answer for ``day`` is the fallback's guess (see ``calendar_status``)."""
    return day.year not in confirmed_years() and get_calendar().is_provisional(day)


def provisional_test():
    """``is_provisional`` for many days at one read of the calendar: a function of a date (a list's rows)."""
    calendar, confirmed = get_calendar(), confirmed_years()
    return lambda day: day.year not in confirmed and calendar.is_provisional(day)


def year_view(year: int) -> list[dict]:
    """Every day of ``year`` for the administrator's calendar page: working or not, name, and source
    (``override``, ``statutory`` from chinese_calendar, or ``provisional`` Monday–Friday guess)."""
    calendar = get_calendar()
    confirmed = year in confirmed_years()
    days = []
    day = date(year, 1, 1)
    while day.year == year:
        if day in calendar.overrides:
            source = "override"
        elif calendar.is_provisional(day):
            source = "weekday" if confirmed else "provisional"
        else:
            source = "statutory"
        days.append(
            {
                "date": day,
                "is_workday": calendar.is_workday(day),
                "name": calendar.holiday_name(day) or "",
                "source": source,
            }
        )
        day += timedelta(days=1)
    return days


def editable_years() -> range:
    """Years an administrator may view and set: from the first year chinese_calendar knows to ten years ahead
    (a date outside is a typo, and a deadline that far never runs)."""
    return range(get_calendar().covered_from().year, timezone.localdate().year + 11)


def check_year(year: int) -> int:
    """``year`` if it is one of ``editable_years()``; ``ValidationFailed`` otherwise."""
    years = editable_years()
    if year not in years:
        raise ValidationFailed(
            f"年份须在 {years[0]}–{years[-1]} 年之间 / the year must be between {years[0]} and {years[-1]}", field="year"
        )
    return year


def day_kind(day: dict) -> str:
    """How a day of ``year_view`` reads on the page: ``workday``, ``makeup`` (working on a weekend, 调休上班),
    ``weekend`` (an ordinary Saturday or Sunday) or ``holiday`` (a named day off, or a weekday off)."""
    weekend = day["date"].weekday() >= 5
    if day["is_workday"]:
        return "makeup" if weekend else "workday"
    return "weekend" if weekend and not day["name"] else "holiday"


# ---- editing -------------------------------------------------------------------------------------------


def _check(actor) -> None:
    # None is the system itself (commands, data loading); a person needs the configuration capability.
    if actor is not None and not has_capability(actor, CAPABILITY):
        raise PermissionDenied("您没有修改工作日历的权限 / not allowed to change the working calendar")


def _settings_row() -> CalendarSettings:
    row, _ = CalendarSettings.objects.select_for_update().get_or_create(
        pk=SETTINGS_PK, defaults={"hours": [list(p) for p in DEFAULT_HOURS]}
    )
    return row


def _changed(row: CalendarSettings, since: date | None) -> None:
    """New version token, and (after commit) move the deadlines of the open clocks the change affects."""
    row.version = uuid.uuid4().hex
    row.updated_at = timezone.now()
    row.save(update_fields=["version", "updated_at", "hours", "confirmed_years"])
    forget_calendar()
    from .sweep import schedule_reschedule

    schedule_reschedule(since)


def set_calendar_day(*, actor, date: date, is_workday: bool, name: str = "") -> CalendarDay:
    """Declare ``date`` a working day or a day off (administrator's override), audited: one day through
    ``change_days``."""
    change_days(actor=actor, changes=[DayChange(date=date, kind=WORKDAY if is_workday else HOLIDAY, name=name)])
    return CalendarDay.objects.get(date=date)


def clear_calendar_day(*, actor, date: date) -> bool:
    """Remove the override for ``date`` (back to chinese_calendar or Monday–Friday); audited. False when there
    was none."""
    return bool(change_days(actor=actor, changes=[DayChange(date=date, kind=DEFAULT)]))


def set_working_hours(*, actor, hours) -> CalendarSettings:
    """Replace the daily working periods, e.g. ``[("08:30", "12:00"), ("14:30", "18:00")]``; audited."""
    _check(actor)
    try:
        periods = parse_hours(hours)
    except HoursError as exc:  # the reason in both languages, so that each reader is told what to put right
        raise ValidationFailed(f"工作时段无效：{exc.zh} / invalid working hours: {exc.en}", field="hours") from None
    new = [[f"{s:%H:%M}", f"{e:%H:%M}"] for s, e in periods]
    with transaction.atomic():
        row = _settings_row()
        before = [list(p) for p in row.periods]
        row.hours = new
        record(
            actor=actor,
            action=Config.CHANGED,
            target=row,
            before={"hours": before},
            after={"hours": new},
            data={"setting": "working_hours"},
        )
        _changed(row, timezone.localdate())
    return row


def confirm_year(*, actor, year: int, confirmed: bool = True) -> CalendarSettings:
    """Declare the holiday table of a year beyond chinese_calendar complete (no longer provisional)."""
    _check(actor)
    with transaction.atomic():
        row = _settings_row()
        before = sorted(row.confirmed_years)
        years = set(before)
        (years.add if confirmed else years.discard)(int(year))
        row.confirmed_years = sorted(years)
        record(
            actor=actor,
            action=Config.CHANGED,
            target=row,
            before={"confirmed_years": before},
            after={"confirmed_years": row.confirmed_years},
            data={"setting": "calendar_confirmed_years"},
        )
        # Confirmation changes no working day, so no deadline moves: only the token.
        row.version = uuid.uuid4().hex
        row.save(update_fields=["version", "confirmed_years"])
        forget_calendar()
    return row


def change_days(*, actor, changes: list[DayChange]) -> int:
    """Apply several days' changes at once (a holiday schedule, or one day from a form): all or nothing, one
    audit entry per day that changes, and one rescheduling of open clocks from the earliest changed date.
    Returns how many days changed (a day already as asked is left alone)."""
    _check(actor)
    dates = [c.date for c in changes]
    if len(set(dates)) != len(dates):
        raise ValidationFailed("同一日期只能设置一次 / each date may be set only once", field="date")
    for c in changes:
        check_year(c.date.year)
        if c.kind not in KINDS:
            raise ValidationFailed("日期类型无效 / unknown kind of day", field="kind")
        if len(c.name) > NAME_MAX:
            raise ValidationFailed(f"名称不能超过{NAME_MAX}个字 / name too long", field="name")
    with transaction.atomic():
        row = _settings_row()
        existing = {d.date: d for d in CalendarDay.objects.select_for_update().filter(date__in=dates)}
        now, changed = timezone.now(), []
        for c in changes:
            day = existing.get(c.date)
            before = {"is_workday": day.is_workday, "name": day.name} if day else None
            if c.kind == DEFAULT:
                if day is None:
                    continue
                after = None
                day_target = day
            else:
                after = {"is_workday": c.kind != HOLIDAY, "name": c.name.strip()}
                if before == after:
                    continue
                day_target = day or CalendarDay(date=c.date)
                day_target.is_workday, day_target.name, day_target.updated_at = after["is_workday"], after["name"], now
                day_target.save()
            record(
                actor=actor,
                action=Config.CHANGED,
                target=day_target,
                before=before,
                after=after,
                data={"setting": "calendar_day", "date": c.date.isoformat(), **({"removed": True} if not after else {})},
            )
            if after is None:
                day_target.delete()
            changed.append(c.date)
        if changed:
            _changed(row, min(changed))
    return len(changed)


def enter_schedule(*, actor, text: str, confirm: int | None = None) -> int:
    """Enter a holiday schedule typed as text (``calendar_text`` describes the lines) in one transaction, and
    declare the year ``confirm`` complete if given. Nothing changes when one line is wrong."""
    _check(actor)
    changes = parse_schedule(text, years=editable_years())
    with transaction.atomic():
        n = change_days(actor=actor, changes=changes)
        if confirm is not None:
            confirm_year(actor=actor, year=check_year(confirm))
    return n
