"""The worker's SLA sweep: emit ``sla.warning`` and ``sla.breached`` exactly once per clock, on time.

Everything the sweep needs is in the database (``warn_at``/``due_at`` computed when the clock last
changed, ``warned_at``/``breached_at`` once emitted), so a restarted or replaced worker simply carries on:
nothing is scheduled in memory. Each batch is one transaction that marks the clocks and writes their
outbox rows together, so an event exists if and only if its clock is marked, and a second sweep finds
nothing to do.

Scale: the scans use partial indexes holding only open clocks not yet warned/breached, ordered by the
instant, so finding the due ones is a range scan whatever the number of open clocks; marking is one
``UPDATE … WHERE id IN (…)`` and one multi-row INSERT per batch.

Also here: ``reschedule_open_clocks``, which recomputes the deadlines of open clocks after an
administrator changed the working calendar (run as a background task after that change commits).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from django.db import connection, transaction
from django.tasks import task
from django.utils import timezone

from ..core import context
from ..events.models import OutboxEvent
from . import clock
from .models import OPEN_STATES, SlaClock

log = logging.getLogger(__name__)

WARNING = "sla.warning"
BREACHED = "sla.breached"

_PAYLOAD_FIELDS = ("id", "target_type", "target_id", "kind", "region_code", "mode", "due_at", "warn_at")


def _iso(moment: datetime | None) -> str | None:
    # In the district's zone: payloads are read by people and by the 综治 platform, both on Beijing time.
    return timezone.localtime(moment).isoformat() if moment else None


def event_row(topic: str, values: dict, at: datetime, **extra) -> OutboxEvent:
    """An unsaved outbox row for one clock (the columns ``events.bus.publish`` fills), so a batch can be
    written with one ``bulk_create``. ``values`` holds at least ``_PAYLOAD_FIELDS``."""
    payload = {
        "clock_id": values["id"],
        "target_type": values["target_type"],
        "target_id": values["target_id"],
        "kind": values["kind"],
        "region_code": values["region_code"],
        "mode": values["mode"],
        "due_at": _iso(values["due_at"]),
        "warn_at": _iso(values["warn_at"]),
        "at": _iso(at),
        **extra,
    }
    return OutboxEvent(
        topic=topic,
        aggregate_type=values["target_type"],
        aggregate_id=values["target_id"],
        region_code=values["region_code"],
        payload=payload,
        request_id=context.current().request_id,
        created_at=at,
        available_at=at,
    )


def _sweep_one(kind: str, now: datetime, batch: int) -> int:
    """Mark and publish one batch of due warnings (``kind="warn"``) or breaches; returns how many."""
    instant, mark, topic = (
        ("warn_at", "warned_at", WARNING) if kind == "warn" else ("due_at", "breached_at", BREACHED)
    )
    with transaction.atomic():
        due = SlaClock.objects.filter(
            state__in=OPEN_STATES, **{f"{instant}__lte": now, f"{mark}__isnull": True}
        ).order_by(instant)
        if connection.features.has_select_for_update_skip_locked:
            # Two workers each take different clocks; a clock a service is changing is taken next time.
            due = due.select_for_update(skip_locked=True)
        rows = list(due.values(*_PAYLOAD_FIELDS)[:batch])
        if not rows:
            return 0
        ids = [r["id"] for r in rows]
        # Re-check the condition in the UPDATE: on SQLite (no row locks) it is what keeps this exact.
        updated = SlaClock.objects.filter(id__in=ids, **{f"{mark}__isnull": True}).update(**{mark: now})
        if updated != len(ids):  # only possible without row locks; fall back to the rows really marked
            marked = set(SlaClock.objects.filter(id__in=ids, **{mark: now}).values_list("id", flat=True))
            rows = [r for r in rows if r["id"] in marked]
        OutboxEvent.objects.bulk_create([event_row(topic, r, now) for r in rows], batch_size=1000)
    return len(rows)


def sweep(now: datetime | None = None, batch: int = 5000) -> tuple[int, int]:
    """Emit every warning and breach due at ``now`` (default: the current time); returns the counts
    ``(warned, breached)``. Warnings go first, so a clock that passed both while no worker ran gets its
    warning before its breach. Safe to run concurrently and repeatedly."""
    now = now or timezone.now()
    totals = []
    for kind in ("warn", "breach"):
        total = 0
        while True:
            n = _sweep_one(kind, now, batch)
            total += n
            if n < batch:
                break
        totals.append(total)
    return totals[0], totals[1]


# ---- deadlines after a calendar change ---------------------------------------------------------------


def reschedule_open_clocks(since: date | None = None, batch: int = 2000) -> int:
    """Recompute ``due_at``/``warn_at`` of running working-time clocks whose deadline lies on or after
    ``since`` (default: all), with the current calendar; returns how many changed.

    Deadlines already emitted keep their instant (no second event; the history stays as it was).
    """
    from .admin_calendar import get_calendar

    calendar = get_calendar()
    tz = timezone.get_default_timezone()
    qs = SlaClock.objects.filter(state=clock.RUNNING).exclude(mode=clock.NATURAL_HOURS)
    if since is not None:
        qs = qs.filter(due_at__gte=datetime.combine(since, time.min, tzinfo=tz))
    changed, last_id = 0, 0
    while True:
        with transaction.atomic():
            page = qs.filter(id__gt=last_id).order_by("id")
            if connection.features.has_select_for_update:
                page = page.select_for_update()
            clocks = list(page[:batch])
            if not clocks:
                return changed
            last_id = clocks[-1].id
            dirty = []
            for c in clocks:
                remaining = c.budget_minutes - c.consumed_minutes
                due = c.due_at
                if c.breached_at is None:
                    due = calendar.add_working_time(c.running_since, max(remaining, 0))
                warn = c.warn_at
                if c.warned_at is None:
                    warn_left = c.budget_minutes * c.warn_ratio - c.consumed_minutes
                    warn = calendar.add_working_time(c.running_since, max(warn_left, 0))
                if due != c.due_at or warn != c.warn_at:
                    c.due_at, c.warn_at, c.updated_at = due, warn, timezone.now()
                    dirty.append(c)
            SlaClock.objects.bulk_update(dirty, ["due_at", "warn_at", "updated_at"], batch_size=500)
            changed += len(dirty)


@task(queue_name="default")
def reschedule_task(since: str | None = None) -> int:
    """Background task form of ``reschedule_open_clocks`` (``since`` as an ISO date)."""
    with context.acting(channel="worker"):
        n = reschedule_open_clocks(date.fromisoformat(since) if since else None)
    if n:
        log.info("calendar change moved the deadlines of %d open SLA clocks", n)
    return n


def schedule_reschedule(since: date | None) -> None:
    """Queue ``reschedule_task`` to run once the calendar change commits."""
    arg = since.isoformat() if since else None
    transaction.on_commit(lambda: reschedule_task.enqueue(arg))
