"""SLA clock services, called by other apps' services inside their own transaction.

    from civicgrid.foundation.sla import services as sla
    sla.start_clock(target=case, kind="case.handle", limit=("working_hours", 4))
    sla.pause_clock(target=case, kind="case.handle")      # e.g. 挂账 / waiting for the reporter
    sla.resume_clock(target=case, kind="case.handle")
    sla.stop_clock(target=case, kind="case.handle")       # the step is done; returns the clock (on_time)

Each call changes one ``SlaClock`` row and writes one outbox event (``sla.started``, ``sla.paused``,
``sla.resumed``, ``sla.stopped``) in the caller's transaction, so a rolled-back business change leaves
no clock change and no event. The caller's service records the audit entry for its business action;
clocks have none of their own. Invalid transitions raise ``Conflict`` with a message a person can act on.

Warnings (at ``warn_ratio`` of the budget, 80 % by default) and breaches are emitted by the worker's
sweep (``sla.sweep``), not here, except where a change puts an instant behind the sweep's watermark: a
clock stopped after its deadline before the sweep reached it gets its ``sla.breached`` here, and so does a
clock started or moved onto an instant already swept, so every late clock has exactly one
(``sweep.settle``).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from ..core import rows
from ..core.errors import Conflict, ValidationFailed
from ..events.models import OutboxEvent
from . import clock, sweep
from .admin_calendar import (  # noqa: F401  (re-exported: the calendar services belong to this API)
    calendar_status,
    clear_calendar_day,
    confirm_year,
    get_calendar,
    is_provisional,
    provisional_test,
    set_calendar_day,
    set_working_hours,
    year_view,
)
from .models import OPEN_STATES, SlaClock
from .sweep import event_row

STARTED, PAUSED, RESUMED, STOPPED = "sla.started", "sla.paused", "sla.resumed", "sla.stopped"

Target = models.Model | tuple[str, object]


def _target_key(target: Target) -> tuple[str, str]:
    """``(label_lower, str(pk))`` of a model instance, or a ``("app.model", id)`` pair as given."""
    if isinstance(target, models.Model):
        if target.pk is None:
            raise ValidationFailed("计时对象尚未保存 / the target has not been saved")
        return target._meta.label_lower, str(target.pk)
    try:
        target_type, target_id = target
    except (TypeError, ValueError):
        raise ValidationFailed(f"无效的计时对象 / invalid SLA target {target!r}") from None
    return str(target_type), str(target_id)


def _now(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ValidationFailed(f"时间缺少时区 / naive datetime {at.isoformat()}")
    return at


def _values(c: SlaClock) -> dict:
    return {
        name: getattr(c, name)
        for name in ("id", "target_type", "target_id", "kind", "region_code", "mode", "due_at", "warn_at")
    }


def _event(topic: str, c: SlaClock, at: datetime, **extra) -> OutboxEvent:
    return event_row(topic, _values(c), at, state=c.state, consumed=c.consumed, unit=clock.unit_of(c.mode), **extra)


def _emit(topic: str, c: SlaClock, at: datetime, **extra) -> None:
    _event(topic, c, at, **extra).save()


def due_text(value) -> str:
    """A clock event's `due_at` (ISO 8601 in the payload, or a datetime) as people read it: local time to the
    minute, "2026-11-30 10:30"; "—" when there is none, and the text as it came when it is not a datetime."""
    if not value:
        return "—"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_naive(moment):
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def deadline_passed(value, at: datetime | None = None) -> bool:
    """Whether a clock event's `due_at` (ISO 8601 in the payload, or a datetime) lies at or before `at` (now by
    default). A warning handler asks this as the event is delivered: a 即将超期 whose deadline has passed (the
    worker was away, or a late sweep queued it with the breach) is not sent, the breach's overdue notice covers
    it. No deadline, or one that is not a datetime, has not passed."""
    if not value:
        return False
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return False
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment <= (timezone.now() if at is None else at)


def publish_clock_event(topic: str, c: SlaClock, at: datetime) -> None:
    """Publish a warning or breach of a saved clock that a service (not the sweep) emits."""
    _emit(topic, c, at)


def _settle(c: SlaClock, before: dict | None, at: datetime, reemit=()) -> list[str]:
    """``sweep.settle`` with the watermark read in this transaction (one primary-key read), under the
    shared lock when an instant is near the present. Read even for a new clock whose instants all lie
    ahead of the wall clock: a watermark ahead of it (a clock set back on the server, a test sweeping
    ahead) must still be obeyed."""
    return sweep.settle(c, before, sweep.watermarks(shared_lock=sweep.near(c, before)), at, reemit=reemit)


def settle_new(c: SlaClock, at: datetime) -> list[str]:
    """For a caller inserting a clock itself (``new_clock``): inside its transaction, before the insert,
    record the marks of instants already swept; publish the returned topics with ``emitted_events`` once
    the clock has its id (usually none: the instants lie ahead of the watermark)."""
    return settle_new_many([c], [at])[0]


def settle_new_many(clocks: list[SlaClock], ats: list[datetime]) -> list[list[str]]:
    """``settle_new`` for many new clocks inserted together (a batch of queued reports): the watermark is read
    once, under the shared lock if any clock's instant is near the present; one list of topics per clock
    (``ats[i]``: when clock ``i`` was started)."""
    if not clocks:
        return []
    marks = sweep.watermarks(shared_lock=any(sweep.near(c, None) for c in clocks))
    return [sweep.settle(c, None, marks, at) for c, at in zip(clocks, ats, strict=True)]


def emitted_events(c: SlaClock, topics: list[str], at: datetime) -> list[OutboxEvent]:
    """The unsaved outbox rows of the topics ``settle_new`` returned, for a clock that now has its id."""
    return [_event(topic, c, at) for topic in topics]


def _open_clock(target: Target, kind: str) -> SlaClock:
    target_type, target_id = _target_key(target)
    qs = SlaClock.objects.filter(
        target_type=target_type, target_id=target_id, kind=kind, state__in=OPEN_STATES
    )
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()  # serialise with the sweep and with concurrent services
    c = qs.first()
    if c is None:
        raise Conflict(f"没有进行中的时限“{kind}” / no open SLA clock {kind!r} on {target_type}#{target_id}")
    return c


def _transition(c: SlaClock, func, at: datetime, action: str) -> list[str]:
    """Apply a pure transition to the locked clock and save it; returns the warning/breach topics to
    publish now (``sweep.settle``)."""
    before = sweep.snapshot(c)
    try:
        state = func(c.as_state(), at, get_calendar())
    except clock.ClockError as exc:
        raise Conflict(f"时限“{c.kind}”无法{action} / {exc}") from None
    fields = c.apply(state)
    topics = _settle(c, before, at)
    c.save(update_fields=[*fields, "warned_at", "breached_at"])
    return topics


def change_clock(c: SlaClock, state: clock.ClockState, at: datetime, *, reemit=()) -> list[str]:
    """Save a new state computed by the caller for its locked clock (e.g. an extended budget), keeping the
    sweep's bookkeeping true; ``reemit`` names the kinds (``"warn"``, ``"breach"``) whose event is due again
    for the new instant. Publishes what must be published now and returns those topics."""
    before = sweep.snapshot(c)
    fields = c.apply(state)
    topics = _settle(c, before, at, reemit=reemit)
    c.save(update_fields=[*fields, "warned_at", "breached_at"])
    for topic in topics:
        _emit(topic, c, at)
    return topics


def new_clock(
    *,
    target_type: str,
    kind: str,
    limit: clock.Limit | tuple[str, int | float],
    at: datetime,
    region_code: str = "",
    warn_ratio: float | None = None,
    extra_minutes: int | float = 0,
) -> SlaClock:
    """An unsaved running clock computed from ``limit`` (plus ``extra_minutes`` of budget) on the working
    calendar, for a caller that creates its target and the clock together (set ``target_id`` once the target
    has its key, then save it or ``bulk_create`` it). No database write, so the deadline arithmetic can run
    before a transaction."""
    ratio = (
        warn_ratio
        if warn_ratio is not None
        else getattr(settings, "CIVICGRID_SLA_WARN_RATIO", clock.DEFAULT_WARN_RATIO)
    )
    try:
        state = clock.start(limit, at, get_calendar(), ratio, extra_minutes)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"时限设置无效 / invalid limit: {exc}", field="limit") from None
    c = rows.new(
        SlaClock,
        target_type=target_type,
        target_id="",
        kind=kind,
        region_code=region_code,
        limit_amount=limit[1],
    )
    c.apply(state)
    return c


def started_event(c: SlaClock, limit: clock.Limit | tuple[str, int | float], at: datetime,
                  extra_minutes: int | float = 0) -> OutboxEvent:
    """The unsaved ``sla.started`` outbox row of a saved clock (what ``start_clock`` publishes)."""
    extra = {"extra_minutes": extra_minutes} if extra_minutes else {}
    return event_row(
        STARTED, _values(c), at, state=c.state, consumed=c.consumed, unit=clock.unit_of(c.mode), limit=[limit[0], limit[1]],
        **extra,
    )


@transaction.atomic  # a savepoint in the caller's transaction; its own when called alone
def start_clock(
    *,
    target: Target,
    kind: str,
    limit: clock.Limit | tuple[str, int | float],
    at: datetime | None = None,
    region_code: str = "",
    warn_ratio: float | None = None,
    extra_minutes: int | float = 0,
) -> SlaClock:
    """Start the ``kind`` clock on ``target`` with ``limit`` (e.g. ``("working_days", 2)``), its budget
    lengthened by ``extra_minutes`` when an extension granted earlier carries over to it.

    ``region_code`` defaults to the target's ``region_code`` (used by scoped overdue lists).
    ``Conflict`` if an open clock of that kind already runs on the target.
    """
    at = _now(at)
    target_type, target_id = _target_key(target)
    if not region_code and isinstance(target, models.Model):
        region_code = getattr(target, "region_code", "") or ""
    c = new_clock(target_type=target_type, kind=kind, limit=limit, at=at, region_code=region_code,
                  warn_ratio=warn_ratio, extra_minutes=extra_minutes)
    c.target_id = target_id
    if SlaClock.objects.filter(
        target_type=target_type, target_id=target_id, kind=kind, state__in=OPEN_STATES
    ).exists():
        raise Conflict(
            f"时限“{kind}”已在计时 / an SLA clock {kind!r} is already open on {target_type}#{target_id}"
        )
    topics = settle_new(c, at)
    try:
        with transaction.atomic():  # savepoint: a concurrent start must not poison the caller's transaction
            c.save()
    except IntegrityError:
        raise Conflict(f"时限“{kind}”已在计时 / an SLA clock {kind!r} is already open") from None
    started_event(c, limit, at, extra_minutes).save()
    for row in emitted_events(c, topics, at):  # started on instants already swept (a backdated start)
        row.save()
    return c


@transaction.atomic
def pause_clock(*, target: Target, kind: str, at: datetime | None = None) -> SlaClock:
    """Pause the running ``kind`` clock on ``target``; its deadline is suspended until resumed."""
    at = _now(at)
    c = _open_clock(target, kind)
    for topic in _transition(c, clock.pause, at, "暂停"):
        _emit(topic, c, at)
    _emit(PAUSED, c, at)
    return c


@transaction.atomic
def resume_clock(*, target: Target, kind: str, at: datetime | None = None) -> SlaClock:
    """Resume the paused clock: the deadline moves by the (working) time spent paused."""
    at = _now(at)
    c = _open_clock(target, kind)
    for topic in _transition(c, clock.resume, at, "恢复"):
        _emit(topic, c, at)
    _emit(RESUMED, c, at)
    return c


@transaction.atomic
def stop_clock(*, target: Target, kind: str, at: datetime | None = None) -> SlaClock:
    """Stop the open ``kind`` clock on ``target`` for good; ``clock.on_time`` tells whether it was met."""
    at = _now(at)
    c = _open_clock(target, kind)
    # Late, but the sweep had not reached the deadline yet (it runs every second or so): the breach still
    # happened, and nothing sweeps a stopped clock, so settle publishes it here.
    for topic in _transition(c, clock.stop, at, "停止"):
        _emit(topic, c, at)
    _emit(STOPPED, c, at, on_time=c.on_time)
    return c


@transaction.atomic
def stop_clocks(*, target: Target, at: datetime | None = None) -> list[SlaClock]:
    """Stop every open clock on ``target`` (closing or voiding the whole object)."""
    target_type, target_id = _target_key(target)
    kinds = SlaClock.objects.filter(
        target_type=target_type, target_id=target_id, state__in=OPEN_STATES
    ).values_list("kind", flat=True)
    return [stop_clock(target=(target_type, target_id), kind=k, at=at) for k in sorted(kinds)]


# ---- reading -------------------------------------------------------------------------------------------


def clocks_of(target: Target):
    """All clocks of ``target``, newest first (the caller has checked scope on the target)."""
    target_type, target_id = _target_key(target)
    return SlaClock.objects.filter(target_type=target_type, target_id=target_id).order_by(
        "-started_at", "-id"
    )


def open_clock(target: Target, kind: str) -> SlaClock | None:
    """The open ``kind`` clock on ``target``, or None."""
    target_type, target_id = _target_key(target)
    return SlaClock.objects.filter(
        target_type=target_type, target_id=target_id, kind=kind, state__in=OPEN_STATES
    ).first()


def overdue_for(user, *, kind: str | None = None):
    """Open clocks past their deadline that ``user`` may see (scoped by region), most overdue first."""
    qs = SlaClock.objects.visible_to(user, "view").filter(state__in=OPEN_STATES, due_at__lte=timezone.now())
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("due_at", "id")


def provisional_deadline(due_at: datetime | None, mode: str, test=None) -> bool:
    """Whether a deadline of a ``mode`` clock was reckoned on a provisional (not yet announced, not confirmed)
    calendar day: its date lies in such a year. A natural-hours deadline never is: it counts no calendar.
    ``test`` is a ``provisional_test()`` a caller judging many deadlines reads once."""
    if due_at is None or mode == clock.NATURAL_HOURS:
        return False
    day = timezone.localtime(due_at).date()
    return (test or is_provisional)(day)


def progress(c: SlaClock, at: datetime | None = None) -> dict:
    """What a page shows for one clock: share of the budget used, minutes left, overdue, and whether the
    deadline falls on a provisional (not yet announced) calendar day."""
    at = _now(at)
    state = c.as_state()
    calendar = get_calendar()
    return {
        "ratio": clock.consumed_ratio(state, at, calendar),
        "remaining_minutes": clock.remaining_minutes(state, at, calendar),
        "overdue": clock.is_overdue(state, at),
        "warned": c.warned(at),
        "due_at": c.due_at,
        "provisional": provisional_deadline(c.due_at, c.mode),
    }
