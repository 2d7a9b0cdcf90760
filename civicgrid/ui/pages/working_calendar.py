"""工作日历: the system administrator's page for the calendar every SLA clock runs on (`config.manage`).

A year at a time: twelve month grids and the list of days that differ from an ordinary week (holidays,
make-up working days, the administrator's changes), whether the year's holiday table is known or provisional,
the working hours. Forms set one day, enter a year's official schedule as text (`sla.calendar_text`), set the
working hours and confirm a year beyond the statutory table. Every write goes through `sla.admin_calendar`,
which checks the capability, audits each change and reschedules the open clocks after commit.
"""

from __future__ import annotations

import calendar as month_math
from datetime import date, timedelta

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.sla import admin_calendar as cal
from civicgrid.foundation.sla.calendar_text import (
    DEFAULT,
    KINDS,
    DayChange,
    parse_date,
    parse_hours_text,
)
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, page_view

CAPABILITY = cal.CAPABILITY
HOME = "ui:working_calendar"
RESCHEDULED = ("未结束的时限将按新日历重新计算截止时间（后台任务，通常几秒内完成）。"
               " / Open deadlines are being recalculated on the new calendar (a background task, usually seconds).")
WEEK_START = date(2024, 1, 1)  # a Monday: the month grids' column heads are its week's day names
SCHEDULE_EXAMPLE = """# 2027 年部分节假日安排（示例）
2027-01-01 元旦
2027-02-05 至 2027-02-11 春节
2027-02-14 调休上班
2027-02-20 调休上班 春节"""


def _year_from(value, default: int) -> int:
    try:
        return cal.check_year(int(value)) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise ValidationFailed("年份无效 / not a year", field="year") from None


def _months(days: list[dict]) -> list[dict]:
    """Twelve month grids (weeks from Monday), each cell a day of `year_view` with its kind."""
    by_date = {d["date"]: d for d in days}
    year = days[0]["date"].year
    months = []
    for month in range(1, 13):
        weeks = [[by_date.get(d) if d.month == month else None for d in week]
                 for week in month_math.Calendar().monthdatescalendar(year, month)]
        months.append({"first": date(year, month, 1), "weeks": weeks})
    return months


def _year_context(year: int, **extra) -> dict:
    days = cal.year_view(year)
    for d in days:
        d["kind"] = cal.day_kind(d)
    status = cal.calendar_status(date(year, 1, 1), date(year, 12, 31))
    working = cal.get_calendar()
    years = cal.editable_years()
    covered = working.covered_until().year
    special = [d for d in days if d["kind"] in ("holiday", "makeup") or d["source"] == "override"]
    return {
        "year": year,
        "months": _months(days),
        "special": special,
        "counts": {kind: sum(1 for d in days if d["kind"] == kind) for kind in ("workday", "weekend", "holiday",
                                                                                  "makeup")},
        "status": status,
        "status_message": one_language(status.message) if status.message else "",
        "statutory": year <= covered,
        "covered_year": covered,
        "confirmed": year in cal.confirmed_years(),
        "hours": working.hours,
        "hours_text": ", ".join(f"{s}-{e}" for s, e in working.hours),
        "day_hours": working.day_minutes / 60,
        "previous": year - 1 if year - 1 in years else None,
        "next": year + 1 if year + 1 in years else None,
        "years": years,
        "kinds": KINDS,
        "example": SCHEDULE_EXAMPLE,
        "today": timezone.localdate(),
        "weekdays": [WEEK_START + timedelta(days=i) for i in range(7)],
        **extra,
    }


@page_view(CAPABILITY)
def year_page(request):
    """The year view (`?year=`, default this year) with the forms."""
    this_year = timezone.localdate().year
    try:
        year = _year_from(request.GET.get("year"), this_year)
    except ValidationFailed as exc:
        return render(request, "calendar/year.html", _year_context(this_year, error=exc.message), status=400)
    chosen = parse_date(request.GET.get("day", ""))
    return render(request, "calendar/year.html", _year_context(year, chosen=chosen))


def _back(year: int | None):
    url = reverse(HOME)
    return redirect(f"{url}?year={year}" if year else url)


def _posted_year(request) -> int | None:
    try:
        return _year_from(request.POST.get("year"), timezone.localdate().year)
    except ValidationFailed:
        return None


@require_POST
@capability_required(CAPABILITY)
def set_day(request):
    """One day: a holiday (with a name), a make-up working day, or back to the default."""
    day, kind = parse_date(request.POST.get("date", "")), request.POST.get("kind", "")
    try:
        if day is None:
            raise ValidationFailed("请填写有效日期，如 2027-02-05 / enter a valid date such as 2027-02-05", field="date")
        if kind not in KINDS:
            raise ValidationFailed("请选择日期类型 / choose what the day is", field="kind")
        name = "" if kind == DEFAULT else request.POST.get("name", "").strip()
        n = cal.change_days(actor=request.user, changes=[DayChange(date=day, kind=kind, name=name)])
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return _back(day.year if day and day.year in cal.editable_years() else _posted_year(request))
    if n:
        messages.success(request, f"{day:%Y-%m-%d} 已保存 / {day:%Y-%m-%d} saved")
        messages.success(request, RESCHEDULED)
    else:
        messages.info(request, f"{day:%Y-%m-%d} 没有变化 / {day:%Y-%m-%d} was already so: nothing changed")
    return _back(day.year)


@require_POST
@capability_required(CAPABILITY)
def enter_schedule(request):
    """A year's official schedule pasted as text: all lines or none, then (optionally) the year confirmed."""
    year = _posted_year(request) or timezone.localdate().year
    text = request.POST.get("text", "")
    confirm = year if request.POST.get("confirm") == "1" else None
    try:
        n = cal.enter_schedule(actor=request.user, text=text, confirm=confirm)
    except ValidationFailed as exc:
        problems = [one_language(p) for p in (exc.details or [])]
        context = _year_context(year, schedule_error=one_language(exc.message), schedule_problems=problems,
                                schedule_text=text, confirm_checked=confirm is not None)
        return render(request, "calendar/year.html", context, status=400)
    if n:
        messages.success(request, f"已录入 {n} 天的节假日安排 / {n} days entered")
        messages.success(request, RESCHEDULED)
    else:
        messages.info(request, "这些日期已是所填的安排，没有变化 / every date was already so: nothing changed")
    if confirm is not None:
        messages.success(request, f"{year}年日历已确认 / the {year} calendar is confirmed")
    return _back(year)


@require_POST
@capability_required(CAPABILITY)
def set_hours(request):
    """The daily working periods (same on every working day)."""
    year = _posted_year(request)
    try:
        cal.set_working_hours(actor=request.user, hours=parse_hours_text(request.POST.get("hours", "")))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return _back(year)
    messages.success(request, "工作时段已保存 / Working hours saved")
    messages.success(request, RESCHEDULED)
    return _back(year)


@require_POST
@capability_required(CAPABILITY)
def confirm_year(request):
    """Declare a year beyond the statutory table complete (no longer provisional), or take that back."""
    try:
        year = _year_from(request.POST.get("year"), 0)
        if not year:
            raise ValidationFailed("年份无效 / not a year", field="year")
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return _back(None)
    confirmed = request.POST.get("confirmed") == "1"
    cal.confirm_year(actor=request.user, year=year, confirmed=confirmed)
    messages.success(request, f"{year}年日历已确认 / the {year} calendar is confirmed" if confirmed
                     else f"{year}年日历改回临时日历 / the {year} calendar is provisional again")
    return _back(year)


urlpatterns = [
    path("", year_page, name="working_calendar"),
    path("day/", set_day, name="working_calendar_day"),
    path("schedule/", enter_schedule, name="working_calendar_schedule"),
    path("hours/", set_hours, name="working_calendar_hours"),
    path("confirm/", confirm_year, name="working_calendar_confirm"),
]
# Configuration, no business data: the capability decides who reaches these (the system administrator).
non_data_endpoint(*(f"ui:{p.name}" for p in urlpatterns))
register(MenuItem("working_calendar", gettext_noop("工作日历"), HOME, CAPABILITY, order=90))
