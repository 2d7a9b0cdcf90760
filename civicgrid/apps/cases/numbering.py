"""Case numbers: `YYYYMMDD` (the district's date) + a 5-digit sequence of that day, e.g. `2026112900042`.

One `CaseDaySequence` row per day is incremented in place with `UPDATE … SET last = last + 1`: on PostgreSQL
the update takes the row lock, so concurrent reports queue for the next number instead of colliding, and the
lock is released when the report commits (a rolled-back report gives its number back). SQLite serialises
writers anyway (transactions begin IMMEDIATE). Must be called inside the report's transaction.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from civicgrid.foundation.core.errors import Conflict

from .models import CaseDaySequence

MAX_PER_DAY = 99_999


def _increment(day: date) -> int | None:
    if not CaseDaySequence.objects.filter(day=day).update(last=F("last") + 1):
        return None
    return CaseDaySequence.objects.filter(day=day).values_list("last", flat=True).get()


def next_number(at: datetime | None = None) -> str:
    """The next case number for the day of `at` (default now), inside the caller's transaction."""
    day = timezone.localdate(at or timezone.now())
    value = _increment(day)
    if value is None:
        try:
            with transaction.atomic():  # savepoint: the first report of the day may race another
                CaseDaySequence.objects.create(day=day, last=1)
            value = 1
        except IntegrityError:
            value = _increment(day)
    if value is None or value > MAX_PER_DAY:
        raise Conflict("今日案卷编号已用尽 / the day's case numbers are exhausted")
    return f"{day:%Y%m%d}{value:05d}"
