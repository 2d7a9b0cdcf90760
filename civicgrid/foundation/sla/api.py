"""Working-calendar API: read a year (any signed-in user: deadlines are computed on it), and, for holders of
`config.manage`, set a day, enter a holiday schedule as text, set the working hours. Writes go through
`admin_calendar`, which audits them and reschedules the open clocks after commit."""

from __future__ import annotations

from datetime import date
from typing import Literal

from ninja import Field, Router, Schema

from civicgrid.foundation.core.api_json import StrictIn

from ..access.endpoints import non_data_endpoint
from ..core.api_errors import errors
from ..core.errors import ValidationFailed
from . import admin_calendar as cal
from .calendar_text import MAX_TEXT, DayChange

router = Router(tags=["calendar"])
PREFIX = "/"

DayKind = Literal["holiday", "workday", "default"]


class CalendarDayOut(Schema):
    date: date
    is_workday: bool
    kind: str = Field(description="workday, weekend, holiday (a day off that is not an ordinary weekend) or makeup")
    name: str
    source: str = Field(description="override (set by an administrator), statutory, provisional or weekday")


class CalendarYearOut(Schema):
    year: int
    provisional: bool = Field(description="some days of the year are a Monday–Friday guess (holidays not entered)")
    confirmed: bool = Field(description="an administrator declared the year's holiday table complete")
    message: str
    hours: list[list[str]]
    days: list[CalendarDayOut]


class DayIn(StrictIn):
    kind: DayKind = Field(description="holiday (a day off), workday (a make-up working day) or default")
    name: str = Field("", max_length=64)


class DayChangeOut(Schema):
    changed: int = Field(description="1 when the day changed, 0 when it was already so")
    day: CalendarDayOut
    rescheduled: bool = Field(description="the open clocks' deadlines are being recalculated in the background")


class ScheduleIn(StrictIn):
    text: str = Field(max_length=MAX_TEXT, description="one line per holiday or make-up day, e.g. "
                      "`2027-02-05 2027-02-11 春节` and `2027-02-14 调休上班`")
    confirm_year: int | None = Field(None, description="also declare this year's holiday table complete")


class ScheduleOut(Schema):
    changed: int
    rescheduled: bool


class HoursIn(StrictIn):
    hours: list[list[str]] = Field(max_length=12, description='e.g. [["08:30", "12:00"], ["14:30", "18:00"]]')


class HoursOut(Schema):
    hours: list[list[str]]
    rescheduled: bool


def _day_out(day: date) -> dict:
    row = next(d for d in cal.year_view(day.year) if d["date"] == day)
    return {**row, "kind": cal.day_kind(row)}


@router.get("/calendar/{int:year}", response={200: CalendarYearOut, **errors(400, 401, 404, 422)},
            url_name="calendar_year")
def calendar_year(request, year: int):
    """Every day of a year: working or not, its kind, name and source; whether the year is provisional."""
    cal.check_year(year)
    status = cal.calendar_status(date(year, 1, 1), date(year, 12, 31))
    days = [{**d, "kind": cal.day_kind(d)} for d in cal.year_view(year)]
    return {"year": year, "provisional": status.provisional, "confirmed": year in cal.confirmed_years(),
            "message": status.message, "hours": [list(p) for p in cal.get_calendar().hours], "days": days}


@router.put("/calendar/days/{day}", response={200: DayChangeOut, **errors(400, 401, 403, 422)}, url_name="calendar_day")
def set_day(request, day: date, payload: DayIn):
    """Make a day a holiday (with a name), a make-up working day, or back to the default (`config.manage`)."""
    name = "" if payload.kind == "default" else payload.name.strip()
    n = cal.change_days(actor=request.user, changes=[DayChange(date=day, kind=payload.kind, name=name)])
    return {"changed": n, "day": _day_out(day), "rescheduled": bool(n)}


@router.post("/calendar/schedule", response={200: ScheduleOut, **errors(400, 401, 403, 422)},
             url_name="calendar_schedule")
def enter_schedule(request, payload: ScheduleIn):
    """Enter a holiday schedule as text, all lines or none (`config.manage`); a wrong line answers 400 with
    every problem in `errors`."""
    n = cal.enter_schedule(actor=request.user, text=payload.text, confirm=payload.confirm_year)
    return {"changed": n, "rescheduled": bool(n)}


@router.put("/calendar/hours", response={200: HoursOut, **errors(400, 401, 403, 422)}, url_name="calendar_hours")
def set_hours(request, payload: HoursIn):
    """Replace the daily working periods (`config.manage`)."""
    if any(len(p) != 2 for p in payload.hours):
        raise ValidationFailed("每个时段须有开始和结束 / each period needs a start and an end", field="hours")
    row = cal.set_working_hours(actor=request.user, hours=payload.hours)
    return {"hours": row.hours, "rescheduled": True}


# The calendar is configuration, not business data about anyone.
non_data_endpoint("api:calendar_year", "api:calendar_day", "api:calendar_schedule", "api:calendar_hours")
