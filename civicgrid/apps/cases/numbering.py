"""Case numbers: `YYYYMMDD` (the district's date) + a 5-digit sequence of that day, e.g. `2026112900042`.

One `CaseDaySequence` row per day, created or incremented by one statement (`INSERT … ON CONFLICT (day) DO
UPDATE SET last = last + 1 RETURNING last`, the same on SQLite and PostgreSQL), so concurrent reports queue on
the day's row instead of colliding, and the first report of a day needs no savepoint. Numbers are unique; they
are gapless only as far as reports commit: inside a transaction a rolled-back report gives its number back
(SQLite, where intake numbers inside its transaction since writers are serialised anyway), while PostgreSQL
intake takes the number in its own statement just before its transaction, so the day's row is locked for a
moment instead of for the whole report, and a report failing after that leaves a gap.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from civicgrid.foundation.core.errors import Conflict

from .models import CaseDaySequence

MAX_PER_DAY = 99_999


def next_number(at: datetime | None = None) -> str:
    """The next case number for the day of `at` (default now), in the caller's transaction if there is one."""
    return next_numbers(1, at)[0]


def next_numbers(count: int, at: datetime | None = None) -> list[str]:
    """`count` consecutive case numbers for the day of `at` (a batch of queued reports takes its block in one
    statement: the day's counter moves by `count`)."""
    if count < 1:
        return []
    day = timezone.localdate(at or timezone.now())
    q = connection.ops.quote_name
    table, day_col, last = q(CaseDaySequence._meta.db_table), q("day"), q("last")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({day_col}, {last}) VALUES (%s, %s) "
            f"ON CONFLICT ({day_col}) DO UPDATE SET {last} = {table}.{last} + %s RETURNING {last}",
            [connection.ops.adapt_datefield_value(day), count, count],
        )
        value = cursor.fetchone()[0]
    if value > MAX_PER_DAY:
        raise Conflict("今日案卷编号已用尽 / the day's case numbers are exhausted")
    return [f"{day:%Y%m%d}{n:05d}" for n in range(value - count + 1, value + 1)]
