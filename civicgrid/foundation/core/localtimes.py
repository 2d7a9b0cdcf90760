"""Instants inside free-form data (a timeline step's `data`, a JSON column) written in the district's time zone
with their offset (`2026-12-01T18:00:00+08:00`), as the API writes every other datetime (`core.api_json`).

A step's data once mixed zones: 延期审批's `old_deadline` came back from the database in UTC ("+00:00") beside
`new_deadline` reckoned by the working calendar ("+08:00"). `district_times` rewrites every aware instant it
finds — a `datetime`, or a string that is exactly an ISO 8601 instant with an offset (or "Z") — and leaves
everything else (dates, naive times, text that merely contains one) as it is. Steps are written through it
(`TimelineStep.entry`), and the API reads older rows through it too."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils import timezone

ISO_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})")


def _local(moment: dt.datetime, zone) -> str:
    return timezone.localtime(moment, zone).isoformat()


def district_times(value: Any, zone=None) -> Any:
    """`value` with each aware instant in it (nested dicts and lists too) as an ISO string in `zone` (default:
    the current zone, which is the district's unless a request activated another)."""
    if isinstance(value, dict):
        return {key: district_times(item, zone) for key, item in value.items()}
    if isinstance(value, list):
        return [district_times(item, zone) for item in value]
    if isinstance(value, dt.datetime):
        return _local(value, zone) if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, str) and ISO_INSTANT.fullmatch(value):
        try:
            return _local(dt.datetime.fromisoformat(value), zone)
        except ValueError:
            return value
    return value
