"""SLA clock: a pure, serialisable state machine (no Django) for time limits that can be paused.

A limit is ``(mode, amount)``:

* ``("working_hours", 4)``  - 4 hours of working time (working periods of working days);
* ``("working_days", 15)``  - 15 working days, held as 15 *days*: a day's share of working time is
  measured against the calendar's working day (``calendar.day_minutes``) whenever the clock is read or
  moved, so a clock started inside working hours is due at the same clock time on the 15th following
  working day (one started outside them at the close of the 15th), a pause extends the deadline by
  exactly the working time spent paused, and a change of the working hours keeps it 15 working days;
* ``("natural_hours", 6)``  - 6 hours of elapsed time, 24×7.

Every limit becomes a *budget* in the clock's own unit (``unit_of(mode)``): working days for a
working-days clock, minutes (working or natural) otherwise. ``budget`` and ``consumed`` are in that
unit; ``to_minutes`` / ``from_minutes`` convert with a calendar.

An extension granted in hours (``extend``, or ``extra_minutes`` at the start) keeps its own unit too. In a
minutes clock it is simply more budget; in a working-days clock it is held apart, as ``extra_minutes`` of
working time, so that a change of the working hours keeps N working days N working days *and* H hours H
hours (were they a share of the working day, 4 hours granted on a 480-minute day would become 3.5 on a
420-minute one). Such a clock uses its days first, then the extension: ``consumed`` never exceeds
``budget`` once there is an extension, the rest is ``extra_consumed`` minutes.
The state is an immutable :class:`ClockState`; each transition returns a new one. Its fields are
plain values a Django model can store one-to-one (see :func:`to_fields`).

Deadlines follow the calendar's convention: ``due_at`` is the earliest instant at which the budget is
used up, and a clock stopped at ``due_at`` or earlier is on time. While a clock is paused there is no
deadline in force, so ``due_at``/``warn_at`` are ``None`` unless they had already been reached when it
was paused (then they keep that historical instant). Sweepers select running clocks by
``state == "running" and due_at <= now`` (resp. ``warn_at``), with an index on ``(state, due_at)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from .calendar import WorkingCalendar, _as_minutes

WORKING_HOURS = "working_hours"
WORKING_DAYS = "working_days"
NATURAL_HOURS = "natural_hours"
MODES = (WORKING_HOURS, WORKING_DAYS, NATURAL_HOURS)

DAYS = "days"
MINUTES = "minutes"

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
STATES = (RUNNING, PAUSED, STOPPED)

DEFAULT_WARN_RATIO = 0.8


class ClockError(ValueError):
    """An SLA clock transition that is not allowed (e.g. pausing a paused clock, anything after stop)."""


class Limit(NamedTuple):
    """A time limit: ``mode`` (one of MODES) and a positive ``amount`` (hours or days)."""

    mode: str
    amount: int | float


@dataclass(frozen=True, slots=True)
class ClockState:
    """One SLA clock; every field is a plain value so a model can store it column by column.

    ``budget`` and ``consumed`` are in the clock's unit (``unit_of(mode)``: working days or minutes).
    ``consumed`` is the budget used before ``running_since`` (while running), or in total (while paused or
    stopped). ``running_since`` is the start of the current running segment. ``extra_minutes`` (working
    minutes granted beyond the limit) and ``extra_consumed`` (those used) are set on working-days clocks
    only: a minutes clock holds its extensions in ``budget``.
    """

    mode: str
    budget: int | float
    warn_ratio: float
    state: str
    started_at: datetime
    running_since: datetime | None
    paused_at: datetime | None
    stopped_at: datetime | None
    consumed: int | float
    due_at: datetime | None
    warn_at: datetime | None
    on_time: bool | None = None
    extra_minutes: int | float = 0
    extra_consumed: int | float = 0


# ---- helpers --------------------------------------------------------------------------------------


def _aware(at: datetime, what: str) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{what} must be a datetime, got {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} {at.isoformat()} is naive; pass a timezone-aware datetime")
    return at


def _calendar_for(mode: str, calendar: WorkingCalendar | None) -> WorkingCalendar | None:
    if mode != NATURAL_HOURS and calendar is None:
        raise ValueError(f"a {mode} clock needs a WorkingCalendar")
    return calendar


def unit_of(mode: str) -> str:
    """The unit a clock of ``mode`` keeps its budget in: ``DAYS`` for working days, else ``MINUTES``."""
    return DAYS if mode == WORKING_DAYS else MINUTES


def to_minutes(mode: str, amount: int | float, calendar: WorkingCalendar | None) -> int | float:
    """``amount`` of the clock's unit as minutes of its clock, with ``calendar``'s working day for days."""
    if mode != WORKING_DAYS:
        return amount
    cal = _calendar_for(mode, calendar)
    return _whole(amount * cal.day_minutes)


def from_minutes(mode: str, minutes: int | float, calendar: WorkingCalendar | None) -> int | float:
    """``minutes`` of the mode's clock in the clock's unit (a share of ``calendar``'s working day for days)."""
    if mode != WORKING_DAYS:
        return minutes
    cal = _calendar_for(mode, calendar)
    return _whole(minutes / cal.day_minutes)


def _whole(value: int | float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _elapsed(mode: str, a: datetime, b: datetime, calendar: WorkingCalendar | None) -> int | float:
    """Budget consumed between ``a`` and ``b`` on the mode's clock, in its unit (0 if ``b <= a``)."""
    cal = _calendar_for(mode, calendar)
    if cal is not None and mode == WORKING_DAYS:
        return from_minutes(mode, cal.working_minutes_between(a, b), cal)
    if cal is not None and mode != NATURAL_HOURS:
        return cal.working_minutes_between(a, b)
    if cal is not None:
        return cal.natural_minutes_between(a, b)
    return _as_minutes(max(b.astimezone(UTC) - a.astimezone(UTC), timedelta(0)))


def advance(
    mode: str, a: datetime, amount: int | float, calendar: WorkingCalendar | None, extra_minutes: int | float = 0
) -> datetime:
    """The instant at which ``amount`` of budget (in the clock's unit) and ``extra_minutes`` more have elapsed
    from ``a`` on the mode's clock; a working day is ``calendar.day_minutes`` of working time."""
    cal = _calendar_for(mode, calendar)
    minutes = max(to_minutes(mode, amount, cal) + extra_minutes, 0)
    if cal is not None and mode != NATURAL_HOURS:
        return cal.add_working_time(a, minutes)
    if cal is not None:
        return cal.add_natural(a, minutes)
    return (a.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(a.tzinfo)


def _fold(state: ClockState, a: datetime, b: datetime, calendar: WorkingCalendar | None) -> tuple:
    """``(consumed, extra_consumed)`` once the running time from ``a`` to ``b`` is added: to the days first,
    then, once they are used up, to the extension's minutes (a working-days clock with an extension);
    to ``consumed`` alone otherwise."""
    if unit_of(state.mode) != DAYS or not state.extra_minutes:
        return state.consumed + _elapsed(state.mode, a, b, calendar), state.extra_consumed
    cal = _calendar_for(state.mode, calendar)
    minutes = cal.working_minutes_between(a, b)
    days_left = max(to_minutes(state.mode, state.budget - state.consumed, cal), 0)
    if minutes <= days_left:
        return state.consumed + from_minutes(state.mode, minutes, cal), state.extra_consumed
    return max(state.consumed, state.budget), _whole(state.extra_consumed + minutes - days_left)


def due_from(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> datetime:
    """The instant the budget left (``consumed`` and ``extra_consumed`` as stored) is used up, counting from
    ``at`` (a resume, or the running segment's start): the days left on the calendar's working day, then the
    extension's minutes left."""
    return advance(state.mode, at, state.budget - state.consumed, calendar,
                   state.extra_minutes - state.extra_consumed)


def warn_from(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> datetime:
    """The instant ``warn_ratio`` of the budget (of its days and of its extension alike) is used, from ``at``."""
    ratio = state.warn_ratio
    return advance(state.mode, at, state.budget * ratio - state.consumed, calendar,
                   state.extra_minutes * ratio - state.extra_consumed)


def _not_before(at: datetime, earlier: datetime | None, action: str, what: str) -> None:
    if earlier is not None and at < earlier:
        raise ClockError(f"cannot {action} at {at.isoformat()}: it is before {what} {earlier.isoformat()}")


def _require(state: ClockState, expected: str, action: str) -> None:
    if state.state == STOPPED:
        raise ClockError(f"cannot {action} a stopped clock (stopped at {state.stopped_at.isoformat()})")
    if state.state != expected:
        raise ClockError(f"cannot {action} a {state.state} clock; it must be {expected}")


def budget_for(limit: Limit | tuple[str, int | float], calendar: WorkingCalendar | None = None) -> int | float:
    """The budget of ``limit`` in the clock's unit: hours × 60 minutes, or the working days themselves (kept
    as days, so that a later change of the working hours cannot stretch or shrink them)."""
    try:
        mode, amount = limit
    except (TypeError, ValueError):
        raise ValueError(f"a limit is a (mode, amount) pair, got {limit!r}") from None
    if mode not in MODES:
        raise ValueError(f"unknown limit mode {mode!r}; expected one of {', '.join(MODES)}")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
        raise ValueError(f"a limit amount must be a positive number, got {amount!r}")
    return _whole(amount if mode == WORKING_DAYS else amount * 60)


# ---- transitions ----------------------------------------------------------------------------------


def start(
    limit: Limit | tuple[str, int | float],
    at: datetime,
    calendar: WorkingCalendar | None,
    warn_ratio: float = DEFAULT_WARN_RATIO,
    extra_minutes: int | float = 0,
) -> ClockState:
    """Start a clock for ``limit`` at ``at``: ``due_at`` when the budget is used up, ``warn_at`` when
    ``warn_ratio`` of it is (0 < warn_ratio <= 1). ``extra_minutes`` (of the mode's clock) lengthen the
    budget beyond the limit from the start: an extension already granted for the work being timed (kept in
    minutes beside the days of a working-days clock, see ``extend``)."""
    _aware(at, "start time")
    if isinstance(warn_ratio, bool) or not isinstance(warn_ratio, int | float) or not 0 < warn_ratio <= 1:
        raise ValueError(f"warn_ratio must be in (0, 1], got {warn_ratio!r}")
    if isinstance(extra_minutes, bool) or not isinstance(extra_minutes, int | float) or extra_minutes < 0:
        raise ValueError(f"extra_minutes must be a number >= 0, got {extra_minutes!r}")
    mode = limit[0]
    budget = budget_for(limit, calendar)
    extra = 0
    if extra_minutes and unit_of(mode) == DAYS:
        extra = _whole(extra_minutes)
    elif extra_minutes:
        budget = _whole(budget + extra_minutes)
    state = ClockState(
        mode=mode,
        budget=budget,
        warn_ratio=float(warn_ratio),
        state=RUNNING,
        started_at=at,
        running_since=at,
        paused_at=None,
        stopped_at=None,
        consumed=0,
        due_at=None,
        warn_at=None,
        extra_minutes=extra,
    )
    return dataclasses.replace(state, due_at=due_from(state, at, calendar), warn_at=warn_from(state, at, calendar))


def pause(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> ClockState:
    """Pause a running clock at ``at``: fold the segment's consumption into ``consumed`` and
    drop the deadlines not yet reached (none is in force while paused)."""
    _aware(at, "pause time")
    _require(state, RUNNING, "pause")
    _not_before(at, state.running_since, "pause", "the running segment's start")
    consumed, extra_consumed = _fold(state, state.running_since, at, calendar)
    return dataclasses.replace(
        state,
        state=PAUSED,
        running_since=None,
        paused_at=at,
        consumed=consumed,
        extra_consumed=extra_consumed,
        due_at=state.due_at if state.due_at is not None and state.due_at <= at else None,
        warn_at=state.warn_at if state.warn_at is not None and state.warn_at <= at else None,
    )


def resume(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> ClockState:
    """Resume a paused clock at ``at`` and recompute ``due_at``/``warn_at`` from the remaining budget.

    The deadline moves by exactly the mode's time spent paused. A deadline already reached before the
    pause keeps its historical instant (the clock stays overdue / warned)."""
    _aware(at, "resume time")
    _require(state, PAUSED, "resume")
    _not_before(at, state.paused_at, "resume", "the pause at")
    due_at = state.due_at
    if due_at is None:
        due_at = due_from(state, at, calendar)
    warn_at = state.warn_at
    if warn_at is None:
        warn_at = warn_from(state, at, calendar)
    return dataclasses.replace(
        state, state=RUNNING, running_since=at, paused_at=None, due_at=due_at, warn_at=warn_at
    )


def stop(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> ClockState:
    """Stop a running or paused clock for good; record the budget consumed and ``on_time``.

    Running: on time when ``at <= due_at``. Paused: on time unless the deadline had already passed
    when it was paused. ``due_at``/``warn_at`` are kept as the deadline that was in force."""
    _aware(at, "stop time")
    if state.state == STOPPED:
        raise ClockError(f"cannot stop a clock twice (stopped at {state.stopped_at.isoformat()})")
    if state.state == RUNNING:
        _not_before(at, state.running_since, "stop", "the running segment's start")
        consumed, extra_consumed = _fold(state, state.running_since, at, calendar)
        on_time = state.due_at is not None and at <= state.due_at
    else:
        _not_before(at, state.paused_at, "stop", "the pause at")
        consumed, extra_consumed = state.consumed, state.extra_consumed
        on_time = state.due_at is None or state.paused_at <= state.due_at
    return dataclasses.replace(
        state,
        state=STOPPED,
        running_since=None,
        stopped_at=at,
        consumed=consumed,
        extra_consumed=extra_consumed,
        on_time=on_time,
    )


def extend(state: ClockState, minutes: int | float, at: datetime, calendar: WorkingCalendar | None) -> ClockState:
    """Lengthen an open clock by ``minutes`` of the mode's clock at ``at`` (an approved extension) and
    recompute its deadlines from what is left (a paused clock gets them when it resumes). On a running clock
    past its deadline the new deadline is ``minutes`` after the one that passed, before ``at`` when the time
    overrun since is longer.

    A minutes clock adds them to its budget. A working-days clock keeps them as ``extra_minutes`` beside its
    days, so that neither moves when the working hours change; time it ran past its days before this (an
    overrun, counted in days) is taken from the extension, in minutes of today's working day."""
    _aware(at, "extension time")
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not minutes > 0:
        raise ValueError(f"an extension must be a positive number of minutes, got {minutes!r}")
    if state.state == STOPPED:
        raise ClockError(f"cannot extend a stopped clock (stopped at {state.stopped_at.isoformat()})")
    was_running = state.state == RUNNING
    # Granted after the deadline in force had passed (asked for in time, decided late): the extension runs on
    # from that deadline, not from the grant. When it covers the time overrun since, that is the deadline the
    # remaining budget gives anyway; when it does not, the new deadline lies in the past, before the grant, and
    # the clock stays overdue from then (not from the grant, which no budget reaches).
    passed = state.due_at if was_running and state.due_at is not None and state.due_at <= at else None
    if was_running:
        state = pause(state, at, calendar)
    if unit_of(state.mode) == DAYS:
        consumed, extra_consumed = state.consumed, state.extra_consumed
        if consumed > state.budget:
            # to the microsecond (the precision of a deadline): 60/420 of a day is 60 minutes, not 59.99…
            overrun = round(to_minutes(state.mode, consumed - state.budget, calendar), 8)
            extra_consumed = _whole(extra_consumed + overrun)
            consumed = state.budget
        state = dataclasses.replace(state, extra_minutes=_whole(state.extra_minutes + minutes), consumed=consumed,
                                    extra_consumed=extra_consumed)
    else:
        state = dataclasses.replace(state, budget=_whole(state.budget + minutes))
    state = dataclasses.replace(state, due_at=None, warn_at=None)
    if not was_running:
        return state
    state = resume(state, at, calendar)
    if passed is not None:
        due = advance(state.mode, passed, 0, calendar, minutes)
        if due < at:  # `resume` can only count forward from the grant
            state = dataclasses.replace(state, due_at=due, warn_at=min(state.warn_at, due))
    return state


# ---- queries --------------------------------------------------------------------------------------


def _used(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> tuple:
    """``(consumed, extra_consumed)`` as of ``at`` (frozen while paused or stopped)."""
    _aware(at, "time")
    if state.state != RUNNING:
        return state.consumed, state.extra_consumed
    return _fold(state, state.running_since, at, calendar)


def _in_unit(state: ClockState, days: int | float, minutes: int | float, calendar) -> int | float:
    if not minutes:
        return days
    return _whole(days + from_minutes(state.mode, minutes, calendar))


def consumed(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> int | float:
    """Budget consumed as of ``at``, in the clock's unit (frozen while paused or stopped); the extension's
    minutes count as a share of ``calendar``'s working day."""
    used, extra_used = _used(state, at, calendar)
    return _in_unit(state, used, extra_used, calendar)


def remaining(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> int | float:
    """Budget left as of ``at``, in the clock's unit; negative once the limit is overrun."""
    return _in_unit(state, state.budget, state.extra_minutes, calendar) - consumed(state, at, calendar)


def remaining_minutes(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> int | float:
    """Minutes of the mode's clock left as of ``at`` (a working day counted as ``calendar.day_minutes``)."""
    used, extra_used = _used(state, at, calendar)
    return _whole(to_minutes(state.mode, state.budget - used, calendar) + state.extra_minutes - extra_used)


def consumed_ratio(state: ClockState, at: datetime, calendar: WorkingCalendar | None) -> float:
    """Share of the budget consumed as of ``at`` (0.0 at start, 1.0 at the deadline, > 1 when overrun)."""
    used, extra_used = _used(state, at, calendar)
    if not state.extra_minutes and not extra_used:
        return used / state.budget
    total = to_minutes(state.mode, state.budget, calendar) + state.extra_minutes
    return (to_minutes(state.mode, used, calendar) + extra_used) / total


def is_overdue(state: ClockState, at: datetime) -> bool:
    """Whether the deadline has been missed as of ``at`` (for a stopped clock: ``not on_time``)."""
    _aware(at, "time")
    if state.state == STOPPED:
        return state.on_time is False
    if state.due_at is None:
        return False
    last_running = at if state.state == RUNNING else state.paused_at
    return last_running > state.due_at


# ---- storage --------------------------------------------------------------------------------------

FIELDS = tuple(f.name for f in dataclasses.fields(ClockState))
_OPTIONAL = ("on_time", "extra_minutes", "extra_consumed")


def to_fields(state: ClockState) -> dict[str, Any]:
    """The clock as a dict of plain values (str, number, bool, aware datetime or None) keyed by field."""
    return {name: getattr(state, name) for name in FIELDS}


def from_fields(data: dict[str, Any]) -> ClockState:
    """Rebuild a clock from :func:`to_fields` output (or model columns); validates mode and state."""
    missing = [name for name in FIELDS if name not in data and name not in _OPTIONAL]
    if missing:
        raise ValueError(f"clock fields missing: {', '.join(missing)}")
    if data["mode"] not in MODES:
        raise ValueError(f"unknown clock mode {data['mode']!r}")
    if data["state"] not in STATES:
        raise ValueError(f"unknown clock state {data['state']!r}")
    defaults = {"extra_minutes": 0, "extra_consumed": 0}
    return ClockState(**{name: data.get(name, defaults.get(name)) for name in FIELDS})
