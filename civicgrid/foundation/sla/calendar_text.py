"""The two texts an administrator types to set the working calendar: a year's official holiday schedule
(pasted from the State Council's notice, one line per holiday or make-up working day) and the working hours.

Schedule lines (blank lines and lines starting with ``#`` are skipped)::

    2027-01-01 元旦                      one day off, named 元旦
    2027-02-05 2027-02-11 春节           days off from the first date to the second (both included)
    2027-02-05 至 2027-02-11 春节        the same ("至", "到" or "~" between the dates is allowed)
    2027-02-14 调休上班                  a make-up working day (also 上班, 补班, 工作日), optionally named after it
    2027-03-01 恢复默认                  drop an earlier change (back to the statutory table or Monday–Friday)

English words work too: ``workday`` for a make-up working day, ``default`` for 恢复默认.

The whole text is read before anything is written: every mistake is reported with its line number, and a text
with one mistake changes nothing. Pure parsing here; ``admin_calendar.enter_schedule`` writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from ..core.errors import ValidationFailed

HOLIDAY, WORKDAY, DEFAULT = "holiday", "workday", "default"
KINDS = (HOLIDAY, WORKDAY, DEFAULT)
WORKDAY_WORDS = frozenset({"上班", "调休上班", "补班", "工作日", "workday"})
DEFAULT_WORDS = frozenset({"恢复默认", "默认", "default"})
# "调休" alone names the swap, not which side of it the day is on: the line must say 调休上班 or the holiday.
AMBIGUOUS_WORDS = frozenset({"调休"})
NAME_MAX = 64  # CalendarDay.name
MAX_LINES = 400  # a year's schedule is ~40 lines
MAX_SPAN_DAYS = 31  # one line covers at most a month: a longer range is a typo in a date
MAX_TEXT = 20_000
MAX_ERRORS = 20  # reported; the count says how many more

_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_RANGE_MARKS = ("至", "到", "~", "～")
_HOURS_PERIOD = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–—~～至到]\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class DayChange:
    """One day's wanted state: a day off (``holiday``), a working day (``workday``) or the default."""

    date: date
    kind: str
    name: str = ""
    line: int = 0


def parse_date(text: str) -> date | None:
    """``2027-02-05`` (also ``2027/2/5``, ``2027.2.5``, ``2027年2月5日``) as a date; None when it is not one."""
    m = _DATE.match((text or "").strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _tokens(line: str) -> list[str]:
    for mark in _RANGE_MARKS:
        line = line.replace(mark, " ")
    return line.replace("\u3000", " ").split()


def _line_problem(number: int, zh: str, en: str) -> str:
    return f"第{number}行：{zh} / line {number}: {en}"


def _read_line(number: int, line: str, years: range) -> tuple[list[DayChange], str | None]:
    """The changes one line asks for, or its problem (a bilingual message naming the line)."""
    tokens = _tokens(line)
    first = parse_date(tokens[0])
    if first is None:
        return [], _line_problem(number, f"“{tokens[0][:20]}”不是有效日期，请写成 2027-02-05",
                                 "the line must start with a valid date such as 2027-02-05")
    last = parse_date(tokens[1]) if len(tokens) > 1 else None
    if last is None and len(tokens) > 1 and re.match(r"^\d{4}\D", tokens[1]):
        return [], _line_problem(number, f"“{tokens[1][:20]}”不是有效日期", "the second date is not a valid date")
    label_tokens = tokens[2:] if last else tokens[1:]
    last = last or first
    if last < first:
        return [], _line_problem(number, "结束日期早于开始日期", "the end date is before the start date")
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        return [], _line_problem(number, f"日期范围超过{MAX_SPAN_DAYS}天，请检查日期",
                                 f"the range is longer than {MAX_SPAN_DAYS} days; check the dates")
    for day in (first, last):
        if day.year not in years:
            return [], _line_problem(number, f"{day.year}年不在可设置的范围（{years[0]}–{years[-1]}年）内",
                                     f"{day.year} is outside the years that can be set ({years[0]}–{years[-1]})")
    if not label_tokens:
        return [], _line_problem(number, "缺少节日名称或“调休上班”", "a holiday name, or workday for a make-up working day, is required")
    word, rest = label_tokens[0].lower(), " ".join(label_tokens[1:])
    if word in AMBIGUOUS_WORDS:
        return [], _line_problem(number, "“调休”不明确：上班请写“调休上班”，放假请写节日名称",
                                 "a bare swap is ambiguous: write workday for a make-up working day, "
                                 "or the holiday's name")
    if word in WORKDAY_WORDS:
        kind, name = WORKDAY, rest
    elif word in DEFAULT_WORDS:
        kind, name = DEFAULT, ""
        if rest:
            return [], _line_problem(number, "“恢复默认”后不能再写名称", "nothing may follow default")
    else:
        kind, name = HOLIDAY, " ".join(label_tokens)
    if len(name) > NAME_MAX:
        return [], _line_problem(number, f"名称不能超过{NAME_MAX}个字", f"the name is longer than {NAME_MAX} characters")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [DayChange(date=d, kind=kind, name=name, line=number) for d in days], None


def parse_schedule(text: str, *, years: range) -> list[DayChange]:
    """Every day the text sets, in date order; ``ValidationFailed`` listing each faulty line otherwise
    (bad or impossible dates, end before start, a year outside ``years``, a missing label, a date that an
    earlier line already set)."""
    text = text or ""
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"内容过长（上限 {MAX_TEXT} 字）/ the text is too long (limit {MAX_TEXT} characters)",
                               field="text")
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith(("#", "＃"))]
    if not lines:
        raise ValidationFailed("请至少填写一行 / enter at least one line", field="text")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(f"一次最多 {MAX_LINES} 行 / at most {MAX_LINES} lines at a time", field="text")
    problems: list[str] = []
    seen: dict[date, int] = {}
    changes: list[DayChange] = []
    for number, line in lines:
        found, problem = _read_line(number, line, years)
        if problem:
            problems.append(problem)
            continue
        clash = next((c for c in found if c.date in seen), None)
        if clash:
            first_line = seen[clash.date]
            problems.append(_line_problem(number, f"{clash.date:%Y-%m-%d} 已在第{first_line}行设置过（日期重复或重叠）",
                                          f"{clash.date:%Y-%m-%d} is already set on line {first_line} "
                                          "(duplicate or overlapping dates)"))
            continue
        seen.update((c.date, number) for c in found)
        changes.extend(found)
    if problems:
        n = len(problems)
        shown = problems[:MAX_ERRORS]
        if n > MAX_ERRORS:
            shown.append(f"另有 {n - MAX_ERRORS} 行有误 / {n - MAX_ERRORS} more lines are wrong")
        raise ValidationFailed(f"有 {n} 行无法录入，未作任何修改 / {n} line(s) could not be read: nothing was changed",
                               field="text", details=shown)
    return sorted(changes, key=lambda c: c.date)


def parse_hours_text(text: str) -> list[tuple[str, str]]:
    """``08:30-12:00, 14:30-18:00`` (commas, semicolons or new lines between periods) as ``("08:30", "12:00")``
    pairs; ``ValidationFailed`` for a period that is not written so. Order and overlap are checked by
    ``calendar.parse_hours`` when the hours are set."""
    parts = [p.strip() for p in re.split(r"[,，;；\n]+", text or "") if p.strip()]
    if not parts:
        raise ValidationFailed("请填写工作时段，如 08:30-12:00, 14:30-18:00 / enter the working hours, e.g. "
                               "08:30-12:00, 14:30-18:00", field="hours")
    periods = []
    for part in parts[:12]:
        m = _HOURS_PERIOD.match(part)
        if not m:
            raise ValidationFailed(f"“{part[:30]}”不是时段，请写成 08:30-12:00 / a period must be written like "
                                   "08:30-12:00", field="hours")
        periods.append((f"{int(m[1]):02d}:{m[2]}", f"{int(m[3]):02d}:{m[4]}"))
    return periods
