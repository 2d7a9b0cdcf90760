"""`civicgrid working_calendar show|set|load|hours|confirm`: the working calendar every SLA clock runs on, from
the console (the same services as the 工作日历 page: audited, open clocks rescheduled after each change)."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from civicgrid.foundation.core import context
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.sla import admin_calendar as cal
from civicgrid.foundation.sla.calendar_text import (
    DEFAULT,
    HOLIDAY,
    WORKDAY,
    DayChange,
    parse_date,
    parse_hours_text,
)

KIND_LABELS = {"workday": "工作日", "weekend": "周末", "holiday": "节假日", "makeup": "调休上班"}


class Command(BaseCommand):
    help = ("工作日历：show YEAR（节假日与调休）、set DATE --holiday NAME | --workday [NAME] | --default、"
            "load FILE [--confirm YEAR]（按行录入放假安排，全部或全不）、hours '08:30-12:00, 14:30-18:00'、"
            "confirm YEAR [--undo]")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        show = sub.add_parser("show", help="a year's holidays and make-up working days, and whether it is provisional")
        show.add_argument("year", type=int)
        put = sub.add_parser("set", help="one day: a holiday, a make-up working day, or back to the default")
        put.add_argument("date")
        kind = put.add_mutually_exclusive_group(required=True)
        kind.add_argument("--holiday", metavar="NAME", help="a day off with this name (e.g. 春节)")
        kind.add_argument("--workday", nargs="?", const="", metavar="NAME", help="a make-up working day (调休上班)")
        kind.add_argument("--default", action="store_true", help="drop the administrator's setting")
        load = sub.add_parser("load", help="a schedule file, one line per holiday or make-up day (see the page)")
        load.add_argument("file", help="UTF-8 text; - reads standard input")
        load.add_argument("--confirm", type=int, metavar="YEAR", help="then declare YEAR's holiday table complete")
        hours = sub.add_parser("hours", help="the daily working periods")
        hours.add_argument("hours")
        confirm = sub.add_parser("confirm", help="declare a year beyond the statutory table complete")
        confirm.add_argument("year", type=int)
        confirm.add_argument("--undo", action="store_true", help="make it provisional again")

    def handle(self, *args, verb, **options):
        with context.acting(channel="command"):
            try:
                getattr(self, f"do_{verb}")(**options)
            except CivicgridError as exc:
                lines = [exc.message, *(exc.details if isinstance(exc.details, list) else [])]
                raise CommandError("\n".join(lines)) from None

    def do_show(self, *, year, **_):
        cal.check_year(year)
        status = cal.calendar_status(datetime.date(year, 1, 1), datetime.date(year, 12, 31))
        state = "临时 / provisional" if status.provisional else (
            "已确认 / confirmed" if year in cal.confirmed_years() else "已确定 / settled")
        self.stdout.write(f"{year}: {state}; 工作时段 / hours: "
                          + ", ".join(f"{s}-{e}" for s, e in cal.get_calendar().hours))
        for d in cal.year_view(year):
            kind = cal.day_kind(d)
            if kind in ("holiday", "makeup") or d["source"] == "override":
                self.stdout.write(f"{d['date']:%Y-%m-%d}\t{KIND_LABELS[kind]}\t{d['name'] or '—'}\t{d['source']}")

    def do_set(self, *, date, holiday, workday, default, **_):
        day = parse_date(date)
        if day is None:
            raise CommandError(f"not a date: {date!r} (write 2027-02-05)")
        if default:
            change = DayChange(date=day, kind=DEFAULT)
        elif holiday is not None:
            change = DayChange(date=day, kind=HOLIDAY, name=holiday.strip())
        else:
            change = DayChange(date=day, kind=WORKDAY, name=(workday or "").strip())
        n = cal.change_days(actor=None, changes=[change])
        self.stdout.write(f"{day:%Y-%m-%d}: {'已保存 / saved' if n else '没有变化 / unchanged'}")

    def do_load(self, *, file, confirm, **_):
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        n = cal.enter_schedule(actor=None, text=text, confirm=confirm)
        self.stdout.write(self.style.SUCCESS(f"已录入 {n} 天 / {n} days entered"
                                             + (f"; {confirm} 已确认 / confirmed" if confirm else "")))

    def do_hours(self, *, hours, **_):
        row = cal.set_working_hours(actor=None, hours=parse_hours_text(hours))
        self.stdout.write("工作时段 / hours: " + ", ".join(f"{s}-{e}" for s, e in row.hours))

    def do_confirm(self, *, year, undo, **_):
        cal.confirm_year(actor=None, year=cal.check_year(year), confirmed=not undo)
        self.stdout.write(f"{year}: {'临时 / provisional' if undo else '已确认 / confirmed'}")
