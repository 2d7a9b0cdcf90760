"""The worker's SLA sweep: emit ``sla.warning`` and ``sla.breached`` exactly once per clock, on time.

Everything the sweep needs is in the database (``warn_at``/``due_at`` computed when the clock last
changed, ``warned_at``/``breached_at`` once emitted), so a restarted or replaced worker simply carries on:
nothing is scheduled in memory. Each batch is one transaction that marks the clocks and writes their
outbox rows together, so an event exists if and only if its clock is marked, and a second sweep finds
nothing to do.

Scale: the scans use partial indexes holding only open clocks not yet warned/breached, ordered by the
instant, so finding the due ones is a range scan whatever the number of open clocks. A batch is marked
and published by the database itself: one statement on PostgreSQL (pick with SKIP LOCKED, UPDATE …
RETURNING, INSERT … SELECT), three on SQLite; see benchmarks/bench_sla_sweep.py for figures.

Where a burst's time goes (measured over 1 M clocks, 10,000 warnings + 10,000 breaches on scattered
rows): finding the due clocks is a few per cent of it; the rest is writing the marked clock rows. On
PostgreSQL each mark is a non-HOT update (``warned_at``/``breached_at`` are in the partial indexes'
predicates), so besides the heap page it inserts into the primary key, ``sla_one_open_clock`` and
``sla_target``: ~17,000 pages dirtied and ~100 MB of WAL (full-page images after a checkpoint) per 5,000
clocks. On SQLite the commits (WAL writes of ~20,000 table pages, then the automatic checkpoint) take
over half of it. Keeping the marks out of the indexes to allow HOT updates made each idle sweep re-read
every warned open clock (~110 ms at 20,000), so that is not the way; writing the marks to a narrow table
instead of the clock rows (a prototype: 0.2–0.3 s per 5,000 on PostgreSQL against 0.6–0.7 s now, 0.7 s
for the whole burst on SQLite) needs the readers of ``warned_at``/``breached_at`` and the row-lock
ordering with ``stop_clock`` redesigned first.

Also here: ``reschedule_open_clocks``, which recomputes the deadlines of open clocks after an
administrator changed the working calendar (run as a background task after that change commits).
"""

from __future__ import annotations

import json
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
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


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
        # Wall-clock time, not `at`: a backdated or test instant must not delay (or reorder) delivery.
        created_at=timezone.now(),
        available_at=timezone.now(),
    )


# ---- one batch, set-based ----------------------------------------------------------------------------
# A burst of thousands of clocks falling due at once is normal (working-time deadlines land on 12:00 and
# 18:00), so a batch never goes through Python row by row: the database picks, marks and writes the
# outbox rows itself. The open-state condition is spelled literally, exactly as in the partial indexes,
# so that SQLite's planner can match them. Times in payloads are the district's wall clock (a fixed
# offset taken at `now`: Asia/Shanghai has had no daylight saving since 1991), to the second, as
# ``_iso`` writes them for the single events of the services.

_OPEN = "state IN ('running', 'paused')"
_OUTBOX_COLUMNS = (
    "topic, aggregate_type, aggregate_id, region_code, payload, request_id, created_at, available_at, "
    "dispatched_at, attempts, last_error"
)


def _payload_sql(json_func: str, fmt) -> str:
    """The JSON payload built by the database, with the same keys and values as ``event_row``."""
    pairs = ", ".join(f"'{c}', {c}" for c in ("target_type", "target_id", "kind", "region_code", "mode"))
    times = f"'due_at', {fmt('due_at')}, 'warn_at', {fmt('warn_at')}, 'at', %(at)s"
    return f"{json_func}('clock_id', id, {pairs}, {times})"


def _params(topic: str, now: datetime, batch: int) -> dict:
    local = timezone.localtime(now)
    minutes = int(local.utcoffset().total_seconds() // 60)
    return {
        "now": connection.ops.adapt_datetimefield_value(now),
        "batch": batch,
        "topic": topic,
        "at": _iso(now),
        "rid": context.current().request_id,
        "wall": connection.ops.adapt_datetimefield_value(timezone.now()),
        "tz": str(local.tzinfo),
        "offset": local.isoformat()[-6:],
        "shift": f"{minutes:+d} minutes",
        "fmt": "%Y-%m-%dT%H:%M:%S",
    }


def _sweep_postgresql(instant: str, mark: str, params: dict) -> int:
    clocks, outbox = SlaClock._meta.db_table, OutboxEvent._meta.db_table
    payload = _payload_sql(
        "jsonb_build_object",
        lambda col: f"""to_char({col} AT TIME ZONE %(tz)s, 'YYYY-MM-DD"T"HH24:MI:SS') || %(offset)s""",
    )
    sql = f"""
        WITH picked AS (
            SELECT id FROM {clocks}
            WHERE {mark} IS NULL AND {_OPEN} AND {instant} <= %(now)s
            ORDER BY {instant} LIMIT %(batch)s
            FOR UPDATE SKIP LOCKED
        ), marked AS (
            UPDATE {clocks} AS c SET {mark} = %(now)s FROM picked WHERE c.id = picked.id
            RETURNING c.id, c.target_type, c.target_id, c.kind, c.region_code, c.mode, c.due_at, c.warn_at
        )
        INSERT INTO {outbox} ({_OUTBOX_COLUMNS})
        SELECT %(topic)s, target_type, target_id, region_code, {payload}, %(rid)s, %(wall)s, %(wall)s, NULL, 0, ''
        FROM marked ORDER BY {instant}, id
    """
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def _sweep_sqlite(instant: str, mark: str, params: dict) -> int:
    clocks, outbox = SlaClock._meta.db_table, OutboxEvent._meta.db_table
    payload = _payload_sql("json_object", lambda col: f"strftime(%(fmt)s, {col}, %(shift)s) || %(offset)s")
    with connection.cursor() as cur:
        # The write transaction is already exclusive (IMMEDIATE), so no other sweep interleaves; the
        # re-check in the UPDATE keeps it exact even under a DEFERRED configuration.
        cur.execute(
            f"SELECT id FROM {clocks} WHERE {mark} IS NULL AND {_OPEN} AND {instant} <= %(now)s "
            f"ORDER BY {instant} LIMIT %(batch)s",
            params,
        )
        ids = [row[0] for row in cur.fetchall()]
        if not ids:
            return 0
        cur.execute(
            f"UPDATE {clocks} SET {mark} = %(now)s WHERE {mark} IS NULL "
            f"AND id IN (SELECT value FROM json_each(%(ids)s)) RETURNING id",
            {**params, "ids": json.dumps(ids)},
        )
        marked = [row[0] for row in cur.fetchall()]
        cur.execute(
            f"INSERT INTO {outbox} ({_OUTBOX_COLUMNS}) "
            f"SELECT %(topic)s, target_type, target_id, region_code, {payload}, %(rid)s, %(wall)s, %(wall)s, NULL, 0, '' "
            f"FROM {clocks} WHERE id IN (SELECT value FROM json_each(%(ids)s)) ORDER BY {instant}, id",
            {**params, "ids": json.dumps(marked)},
        )
        return len(marked)


def _sweep_orm(instant: str, mark: str, topic: str, now: datetime, batch: int) -> int:
    """The same batch through the ORM, one Python object per clock: for other database engines, and as
    the readable reference the SQL versions are tested against."""
    due = SlaClock.objects.filter(state__in=OPEN_STATES, **{f"{instant}__lte": now, f"{mark}__isnull": True})
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    rows = list(due.order_by(instant, "id").values(*_PAYLOAD_FIELDS)[:batch])
    if not rows:
        return 0
    ids = [r["id"] for r in rows]
    SlaClock.objects.filter(id__in=ids, **{f"{mark}__isnull": True}).update(**{mark: now})
    marked = set(SlaClock.objects.filter(id__in=ids, **{mark: now}).values_list("id", flat=True))
    rows = [r for r in rows if r["id"] in marked]
    OutboxEvent.objects.bulk_create([event_row(topic, r, now) for r in rows], batch_size=1000)
    return len(rows)


def _sweep_one(kind: str, now: datetime, batch: int) -> int:
    """Mark and publish one batch of due warnings (``kind="warn"``) or breaches, in one transaction;
    returns how many clocks it marked (each got exactly one outbox row)."""
    instant, mark, topic = (
        ("warn_at", "warned_at", WARNING) if kind == "warn" else ("due_at", "breached_at", BREACHED)
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _sweep_postgresql(instant, mark, _params(topic, now, batch))
        if connection.vendor == "sqlite":
            return _sweep_sqlite(instant, mark, _params(topic, now, batch))
        return _sweep_orm(instant, mark, topic, now, batch)


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
