"""The worker's SLA sweep: emit ``sla.warning`` and ``sla.breached`` exactly once per clock, on time.

Everything the sweep needs is in the database, so a restarted or replaced worker simply carries on:
nothing is scheduled in memory. For each kind of event the sweep keeps a watermark (``SweepState.swept_to``):
every open clock whose instant (``warn_at`` / ``due_at``) lies at or before it has had its event. A sweep
at ``now`` emits the events of the open clocks whose instant lies in (watermark, now] and moves the
watermark to ``now``, in one transaction: an event exists if and only if the watermark passed its instant,
and a second sweep finds nothing to do.

The sweep writes no clock row. Marking each clock instead (``warned_at``/``breached_at`` set by the sweep,
as this module did before) made a burst of 20,000 events cost 1.2-1.6 s over 1,000,000 clocks: every
mark rewrote a scattered table page, and on PostgreSQL each was a non-HOT update inserting into three
indexes and writing ~100-280 MB of WAL after a checkpoint. Now a burst is one indexed range read and one
outbox INSERT per kind (benchmarks/bench_sla_sweep.py has the figures).

What keeps it exact is that a clock's instant may only move across the watermark through the services
(``services.settle``), which record the difference on the row: an instant set at or before the watermark
gets its event from the service at once, and a clock whose event was emitted keeps that fact in
``warned_at``/``breached_at`` when its instant moves (unless the change asks for a new event, as an approved
extension does) or when it stops (the sweep only looks at open clocks). The partial indexes hold only
open clocks without a mark, so the sweep's range read skips those.

Concurrency: on SQLite every write transaction is exclusive (IMMEDIATE), so a sweep and a service never
interleave. On PostgreSQL the sweep holds an exclusive transaction-level advisory lock and a service that
sets or judges an instant near the present (within ``SETTLE_MARGIN``) holds the shared one while it reads
the watermark; a service setting an instant further ahead cannot race a sweep, whose ``now`` is the wall
clock, as long as its transaction commits within that margin.

Also here: ``reschedule_open_clocks``, which recomputes the deadlines of open clocks after an
administrator changed the working calendar (run as a background task after that change commits).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.tasks import task
from django.utils import timezone

from ..core import context, rows
from ..events.models import OutboxEvent
from . import clock
from .models import OPEN_STATES, SlaClock, SweepState

log = logging.getLogger(__name__)

WARNING = "sla.warning"
BREACHED = "sla.breached"

# kind -> (instant column, mark column, topic)
KINDS = {"warn": ("warn_at", "warned_at", WARNING), "breach": ("due_at", "breached_at", BREACHED)}

# A service whose clock has an instant before now + SETTLE_MARGIN takes the shared lock and reads the
# watermark; one whose instants all lie further ahead relies on committing within this margin.
SETTLE_MARGIN = timedelta(minutes=5)
_LOCK_KEY = 0x51A5EE9  # PostgreSQL advisory lock shared by the sweep (exclusive) and the services (shared)

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
    return rows.new(
        OutboxEvent,
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


# ---- the watermark -------------------------------------------------------------------------------------


def watermarks(*, shared_lock: bool = False) -> dict[str, datetime | None]:
    """``{"warn": swept_to, "breach": swept_to}`` (None before the first sweep). With ``shared_lock``, on
    PostgreSQL, first wait for a running sweep and keep it out until the caller's transaction ends."""
    if shared_lock and connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_LOCK_KEY])
    # Read on every clock a service starts or changes: one plain statement (the ORM's compiler would cost
    # more than the read), the column converted as the ORM converts it.
    marks = dict.fromkeys(KINDS)
    q = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(f"SELECT {q('kind')}, {q('swept_to')} FROM {q(SweepState._meta.db_table)} "
                    f"WHERE {q('kind')} IN ({', '.join(['%s'] * len(KINDS))})", list(KINDS))
        rows = cur.fetchall()
    convert = getattr(connection.ops, "convert_datetimefield_value", None)  # SQLite: text or naive UTC
    for kind, value in rows:
        if value is not None and convert is not None:
            value = convert(value, None, connection)
        marks[kind] = value
    return marks


def _claim(kind: str) -> datetime | None:
    """Inside the sweep's transaction: keep other sweeps and near-present services out; the watermark."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    return SweepState.objects.filter(kind=kind).values_list("swept_to", flat=True).first()


def _advance(kind: str, to: datetime) -> None:
    if not SweepState.objects.filter(kind=kind).update(swept_to=to, updated_at=timezone.now()):
        SweepState.objects.create(kind=kind, swept_to=to)


# ---- keeping the watermark true when a service changes a clock -------------------------------------------


def snapshot(c: SlaClock) -> dict:
    """What ``settle`` needs of a clock before a service changes it."""
    return {"state": c.state, "warn_at": c.warn_at, "due_at": c.due_at,
            "warned_at": c.warned_at, "breached_at": c.breached_at}


def emitted(before: dict, kind: str, marks: dict) -> bool:
    """Whether the ``kind`` event of the clock described by ``before`` (a ``snapshot``) has been emitted."""
    instant, mark, _ = KINDS[kind]
    if before[mark] is not None:
        return True
    swept_to = marks[kind]
    return (before["state"] in OPEN_STATES and before[instant] is not None and swept_to is not None
            and before[instant] <= swept_to)


def near(c: SlaClock, before: dict | None) -> bool:
    """Whether any instant of the clock, before or after the change, is within ``SETTLE_MARGIN`` of now
    (or past): only then can a running sweep be deciding about it."""
    horizon = timezone.now() + SETTLE_MARGIN
    instants = [c.warn_at, c.due_at, *((before["warn_at"], before["due_at"]) if before else ())]
    return any(i is not None and i <= horizon for i in instants)


def settle(c: SlaClock, before: dict | None, marks: dict, at: datetime, *, reemit=()) -> list[str]:
    """Record on ``c`` (changed by a service, not yet saved) what the watermark alone would no longer say,
    and return the topics the service must publish itself now, in order.

    ``before`` is the clock's ``snapshot`` before the change (None for a new clock), ``marks`` the
    ``watermarks()`` read in the service's transaction; ``reemit`` names the kinds whose event is to be
    emitted again for the new instant (an approved extension). Per kind:
      * stopped now: an event already emitted is recorded in its mark (the sweep no longer looks at the
        clock); a late stop whose breach was not emitted yet gets it now;
      * open, event emitted, instant moved: the mark keeps the fact (no second event);
      * open, not emitted, instant at or before the watermark: the event is published now and marked.
    """
    topics = []
    for kind, (instant, mark, topic) in KINDS.items():
        was = emitted(before, kind, marks) if before is not None else False
        if kind in reemit:
            was = False
            setattr(c, mark, None)
        elif getattr(c, mark) is not None:
            continue  # already recorded
        # From here on an emitted event has no mark yet (a marked one went on above): the watermark emitted
        # it, at its instant, and that is what the mark records.
        if not c.is_open:
            if was:
                setattr(c, mark, before[instant])
            elif kind == "breach" and c.on_time is False:
                setattr(c, mark, at)
                topics.append(topic)
            continue
        new = getattr(c, instant)
        if was:
            if new != before[instant]:
                setattr(c, mark, before[instant])
            continue
        if new is not None and marks[kind] is not None and new <= marks[kind]:
            setattr(c, mark, at)
            topics.append(topic)
    return topics


# ---- one batch, set-based ----------------------------------------------------------------------------
# A burst of thousands of clocks falling due at once is normal (working-time deadlines land on 12:00 and
# 18:00), so a batch never goes through Python row by row: the database reads the range and writes the
# outbox rows itself. The open-state condition is spelled literally, exactly as in the partial indexes,
# so that SQLite's planner can match them. Times in payloads are the district's wall clock (a fixed
# offset taken at `now`: Asia/Shanghai has had no daylight saving since 1991), to the second, as
# ``_iso`` writes them for the single events of the services.

_OPEN = "state IN ('running', 'paused')"
_BEFORE_ALL = datetime(1900, 1, 1, tzinfo=UTC)  # the lower bound before the first sweep
_OUTBOX_COLUMNS = (
    "topic, aggregate_type, aggregate_id, region_code, payload, request_id, created_at, available_at, "
    "dispatched_at, attempts, last_error"
)


def _payload_sql(json_func: str, fmt) -> str:
    """The JSON payload built by the database, with the same keys and values as ``event_row``."""
    pairs = ", ".join(f"'{c}', {c}" for c in ("target_type", "target_id", "kind", "region_code", "mode"))
    times = f"'due_at', {fmt('due_at')}, 'warn_at', {fmt('warn_at')}, 'at', %(at)s"
    return f"{json_func}('clock_id', id, {pairs}, {times})"


def _params(topic: str, lower: datetime | None, upper: datetime, at: datetime) -> dict:
    local = timezone.localtime(at)
    minutes = int(local.utcoffset().total_seconds() // 60)
    adapt = connection.ops.adapt_datetimefield_value
    return {
        "lower": adapt(lower or _BEFORE_ALL),
        "upper": adapt(upper),
        "topic": topic,
        "at": _iso(at),
        "rid": context.current().request_id,
        "wall": adapt(timezone.now()),
        "tz": str(local.tzinfo),
        "offset": local.isoformat()[-6:],
        "shift": f"{minutes:+d} minutes",
        "fmt": "%Y-%m-%dT%H:%M:%S",
    }


def _range(instant: str, mark: str) -> str:
    return f"{mark} IS NULL AND {_OPEN} AND {instant} > %(lower)s AND {instant} <= %(upper)s"


def _emit_sql(instant: str, mark: str, params: dict) -> int:
    """One INSERT … SELECT writing the outbox rows of every due clock in the range (PostgreSQL, SQLite)."""
    clocks, outbox = SlaClock._meta.db_table, OutboxEvent._meta.db_table
    if connection.vendor == "postgresql":
        payload = _payload_sql(
            "jsonb_build_object",
            lambda col: f"""to_char({col} AT TIME ZONE %(tz)s, 'YYYY-MM-DD"T"HH24:MI:SS') || %(offset)s""",
        )
    else:
        payload = _payload_sql("json_object", lambda col: f"strftime(%(fmt)s, {col}, %(shift)s) || %(offset)s")
    sql = (
        f"INSERT INTO {outbox} ({_OUTBOX_COLUMNS}) "
        f"SELECT %(topic)s, target_type, target_id, region_code, {payload}, %(rid)s, %(wall)s, %(wall)s, NULL, 0, '' "
        f"FROM {clocks} WHERE {_range(instant, mark)} ORDER BY {instant}, id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def _emit_orm(instant: str, mark: str, topic: str, lower: datetime | None, upper: datetime, at: datetime) -> int:
    """The same batch through the ORM, one Python object per clock: for other database engines, and as
    the readable reference the SQL versions are tested against."""
    rows = list(_due(instant, mark, lower, upper).order_by(instant, "id").values(*_PAYLOAD_FIELDS))
    OutboxEvent.objects.bulk_create([event_row(topic, r, at) for r in rows], batch_size=1000)
    return len(rows)


def _due(instant: str, mark: str, lower: datetime | None, upper: datetime):
    """The ORM form of the range: open clocks without a mark whose instant lies in (lower, upper]."""
    qs = SlaClock.objects.filter(state__in=OPEN_STATES, **{f"{mark}__isnull": True, f"{instant}__lte": upper})
    return qs.filter(**{f"{instant}__gt": lower}) if lower is not None else qs


def _nth_due(instant: str, mark: str, params: dict, offset: int) -> datetime | None:
    """The instant of the ``offset``-th (from 0) due clock in the range, in SQL spelled for the index."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {instant} FROM {SlaClock._meta.db_table} WHERE {_range(instant, mark)} "
            f"ORDER BY {instant} LIMIT 1 OFFSET %(n)s",
            {**params, "n": offset},
        )
        row = cur.fetchone()
    if row is None:
        return None
    value = row[0]
    if not isinstance(value, datetime) or timezone.is_naive(value):  # SQLite: text or a naive UTC datetime
        value = connection.ops.convert_datetimefield_value(value, None, connection)
    return value


def _batch_upper(instant: str, mark: str, params: dict, now: datetime, batch: int) -> datetime | None:
    """Where a batch of at most ``batch`` due clocks ends: None when none is due, ``now`` when all fit,
    else just before the instant of the first clock beyond the batch. A batch ends between two instants so
    that the watermark stays one instant; a single instant holding more than a batch goes whole."""
    first = _nth_due(instant, mark, params, 0)
    if first is None:
        return None
    beyond = _nth_due(instant, mark, params, batch)
    if beyond is None:
        return now
    return beyond if beyond == first else beyond - timedelta(microseconds=1)


def _sweep_one(kind: str, now: datetime, batch: int) -> tuple[int, bool]:
    """Publish one batch of due warnings (``kind="warn"``) or breaches and move the watermark, in one
    transaction; returns how many events it wrote and whether more are due."""
    instant, mark, topic = KINDS[kind]
    with transaction.atomic():
        lower = _claim(kind)
        if lower is not None and lower >= now:
            return 0, False  # already swept past `now` (a sweep at an earlier instant does nothing)
        upper = _batch_upper(instant, mark, _params(topic, lower, now, now), now, batch)
        if upper is None:
            # Nothing due: the watermark stays where it is (no write for an idle sweep; no clock lies in
            # between to be judged by it), except that the first sweep records where it began.
            if lower is None:
                _advance(kind, now)
            return 0, False
        if connection.vendor in ("postgresql", "sqlite"):
            n = _emit_sql(instant, mark, _params(topic, lower, upper, now))
        else:
            n = _emit_orm(instant, mark, topic, lower, upper, now)
        _advance(kind, upper)
        return n, upper < now


def sweep(now: datetime | None = None, batch: int = 5000) -> tuple[int, int]:
    """Emit every warning and breach due at ``now`` (default: the current time); returns the counts
    ``(warned, breached)``. Warnings go first, so a clock that passed both while no worker ran gets its
    warning before its breach. Safe to run concurrently and repeatedly; the worker sweeps at the wall
    clock (a sweep ahead of it is for tests of the sweep alone: services then judge by that watermark)."""
    now = now or timezone.now()
    totals = []
    for kind in KINDS:
        total, more = 0, True
        while more:
            n, more = _sweep_one(kind, now, batch)
            total += n
        totals.append(total)
    return totals[0], totals[1]


# ---- deadlines after a calendar change ---------------------------------------------------------------


def reschedule_open_clocks(since: date | None = None, batch: int = 2000) -> int:
    """Recompute ``due_at``/``warn_at`` of running working-time clocks whose deadline lies on or after
    ``since`` (default: all), with the current calendar; returns how many changed.

    Deadlines already emitted keep their instant (no second event; the history stays as it was). The apps
    that keep a copy of a deadline on their own rows (``mirrors``) bring them in step in each batch's
    transaction.
    """
    from . import mirrors, services
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
            marks = watermarks(shared_lock=True)  # new deadlines may land anywhere, the past included
            now = timezone.now()
            dirty, publish, moved = [], [], []
            for c in clocks:
                before = snapshot(c)
                # budget and consumed are in the clock's unit: working days stay working days, however
                # long the new working day is, and the hours of an extension stay hours (extra_minutes).
                state = c.as_state()
                due = c.due_at
                if not emitted(before, "breach", marks):
                    due = clock.due_from(state, c.running_since, calendar)
                warn = c.warn_at
                if not emitted(before, "warn", marks):
                    warn = clock.warn_from(state, c.running_since, calendar)
                if due != c.due_at or warn != c.warn_at:
                    c.due_at, c.warn_at, c.updated_at = due, warn, now
                    topics = settle(c, before, marks, now)
                    publish.extend((topic, c) for topic in topics)
                    dirty.append(c)
                    moved.append((c.target_type, mirrors.Moved(
                        target_id=c.target_id, kind=c.kind, due_at=due, due_changed=due != before["due_at"],
                        breached=BREACHED in topics)))
            SlaClock.objects.bulk_update(
                dirty, ["due_at", "warn_at", "warned_at", "breached_at", "updated_at"], batch_size=500
            )
            mirrors.tell(moved)  # after the clocks are written: a follower may read them in its UPDATE
            for topic, c in publish:  # a deadline moved to before the watermark: its event now
                services.publish_clock_event(topic, c, now)
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
