"""Local days as time ranges: a form's "until 2026-05-31" means up to the end of that day in the district."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone


def day_end(day: date) -> datetime:
    """The exclusive end of a local day: the next midnight, in the site's time zone.

    The calendar's last day (9999-12-31) has no next midnight: it ends at its last representable moment, so a
    date typed far in the future reads as "until then" instead of overflowing."""
    zone = timezone.get_current_timezone()
    if day == date.max:
        return datetime.combine(day, time.max, tzinfo=zone)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
