"""The case's step clocks on the working calendar, and the evaluation facts they leave on the case.

One clock per step (`case.intake` 受理, `case.check` 核实, `case.dispatch` 派遣, `case.handle` 处置 with the
category's limit, `case.verify` 核查, `case.close` 结案). Stopping a clock copies its `on_time` onto the case
field the evaluation formulas count (`accepted_on_time`, …), so a month's evaluation is one aggregate query.
按期处置 (`handled_on_time`) is the assignment round's: every handling since the last 派遣 in time. A 返工 starts
a fresh handling clock but not a fresh round, so a late handling before it stays late however the rework goes;
a new 派遣 (after 退回 or 重新办理) opens a new round, judged afresh (`begin_round`).
The handling clock's deadline is kept on the case (`deadline`, 处置期限) by the functions here, and by
`follow_moved_deadlines` when a working-calendar change moves it.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.db import connection
from django.db.models import Case as DbCase
from django.db.models import CharField, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from civicgrid.foundation.core.errors import Conflict, ValidationFailed
from civicgrid.foundation.events import bus as events
from civicgrid.foundation.sla import clock as pure
from civicgrid.foundation.sla import mirrors
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

from . import conf
from .models import OPEN_STATUSES, Case, CaseStep

INTAKE, CHECK, DISPATCH, HANDLE, VERIFY, CLOSE = (
    "case.intake", "case.check", "case.dispatch", "case.handle", "case.verify", "case.close",
)
KINDS = (INTAKE, CHECK, DISPATCH, HANDLE, VERIFY, CLOSE)
# The case field each clock's on_time becomes (DOMAIN.md §4: 按时立案, 按时核实, 按时派遣, 按期处置, 按时核查, 按期结案).
FACT = {
    INTAKE: "accepted_on_time",
    CHECK: "checked_on_time",
    DISPATCH: "dispatched_on_time",
    HANDLE: "handled_on_time",
    VERIFY: "verified_on_time",
    CLOSE: "closed_on_time",
}
MAX_EXTENSION_HOURS = 24 * 90
EXTENSION_STEP = 0.5  # the form's step: half an hour at the least, in halves
EXTENSION_LIMIT_FACTOR = 2  # one extension: at most twice the category's handling limit (`extension_max_hours`)
# Hours of the clock's own time: working hours for a limit in working hours or days, natural hours for one in
# natural hours.
EXTENSION_RANGE = (f"延期时长须为 0.5 小时的整数倍，且不超过 {MAX_EXTENSION_HOURS} 小时（工作小时；按自然时计时的分类为自然小时） / "
                   f"the extension must be a multiple of half an hour, at most {MAX_EXTENSION_HOURS} hours (working "
                   f"hours; calendar hours where the time limit is in calendar hours)")


def extension_hours_valid(hours: float) -> bool:
    """Whether `hours` is an extension the loop takes: 0.5, 1, 1.5 … up to `MAX_EXTENSION_HOURS`."""
    return EXTENSION_STEP <= hours <= MAX_EXTENSION_HOURS and (hours / EXTENSION_STEP).is_integer()


def extension_max_hours(case: Case) -> float:
    """The most hours one 延期 of the case may add: twice its category's own handling limit, in the clock's hours
    (a limit in working days as that many of the calendar's working days, 7 hours each with the default hours),
    rounded down to half an hour, and never more than `MAX_EXTENSION_HOURS`. An extension is a delay of the
    order of the time the step was given (a 4-hour matter may take 8 hours more, not a week): a problem that
    needs longer is a new plan for the case (挂账), not an extension."""
    mode, amount = handle_limit(case)
    hours = amount * sla.get_calendar().day_minutes / 60 if mode == pure.WORKING_DAYS else amount
    most = math.floor(EXTENSION_LIMIT_FACTOR * hours / EXTENSION_STEP) * EXTENSION_STEP
    return max(EXTENSION_STEP, min(float(MAX_EXTENSION_HOURS), most))


def extension_too_long(case: Case, hours: float) -> str | None:
    """The refusal of an extension of `hours` longer than the case's category allows (`extension_max_hours`), in
    Chinese then English, naming the maximum; None when it is within it."""
    most = extension_max_hours(case)
    if hours <= most:
        return None
    unit, unit_en = (("自然小时", "calendar hours") if handle_limit(case)[0] == pure.NATURAL_HOURS
                     else ("工作小时", "working hours"))
    return (f"延期时长不能超过本类事件处置时限的两倍，最多 {most:g} 小时（{unit}） / an extension may not exceed twice "
            f"the category's handling time limit: at most {most:g} {unit_en}")


def handle_limit(case: Case) -> tuple[str, float]:
    """The category's handling limit (working hours, working days or natural hours), or the default."""
    category = case.category
    if category is not None and category.time_limit_amount and float(category.time_limit_amount) > 0:
        return category.time_limit_mode, float(category.time_limit_amount)
    return conf.default_handle_limit()


def start(case: Case, kind: str, at: datetime, *, extra_hours: float = 0) -> SlaClock:
    """Start the step clock `kind`; the handling clock also sets the case's deadline. `extra_hours` (working
    hours for working-time limits) lengthen the limit: the extensions already approved for this assignment."""
    limit = handle_limit(case) if kind == HANDLE else conf.step_limit(kind)
    c = sla.start_clock(target=case, kind=kind, limit=limit, at=at, region_code=case.region_code,
                        extra_minutes=extra_hours * 60)
    if kind == HANDLE:
        case.deadline = c.due_at
    return c


def deadline_provisional(case: Case, test=None) -> bool:
    """Whether the case's 处置期限 was reckoned on a provisional calendar year (holidays not yet announced): its
    date lies in such a year and the category's limit counts working time. `test`: `sla.provisional_test()`,
    read once for a list of cases (the case's category, with its limit, loaded with it)."""
    if case.deadline is None:
        return False
    return sla.provisional_deadline(case.deadline, handle_limit(case)[0], test)


def approved_extension_hours(case: Case) -> float:
    """The hours of 延期 approved since the case was last dispatched: the extensions of its handling limit at
    its current department, which a 返工 round keeps (a new dispatch, after 退回 or 重新办理, or a 改派 starts
    afresh)."""
    total = 0.0
    steps = CaseStep.objects.filter(case=case, action__in=("dispatch", "redirect", "decide_extension")).order_by(
        "at", "id")
    for action, data in steps.values_list("action", "data"):
        if action in ("dispatch", "redirect"):  # a new department: its limit starts afresh
            total = 0.0
        elif (data or {}).get("decision") == "approve":
            total += float(data.get("hours") or 0)
    return total


def prepare(case: Case, kind: str, at: datetime) -> tuple[SlaClock, tuple[str, float]]:
    """The unsaved `kind` clock of a case being created, and its limit: intake computes the deadline before its
    transaction and writes the clock with its `sla.started` event in one batch (see `sla.new_clock`)."""
    limit = handle_limit(case) if kind == HANDLE else conf.step_limit(kind)
    c = sla.new_clock(target_type=Case._meta.label_lower, kind=kind, limit=limit, at=at,
                      region_code=case.region_code)
    return c, limit


def begin_round(case: Case) -> None:
    """A 派遣 opens a new assignment round: its handling is judged afresh (the round before, sent back or
    closed and reopened, keeps its own clocks)."""
    case.handled_on_time = None


def round_on_time(before: bool | None, on_time: bool | None) -> bool | None:
    """按期处置 of a round after one more handling: late once any handling of the round was late (`before`, the
    round's fact so far, None at its start), else this handling's clock's `on_time`."""
    return False if before is False else on_time


def stop(case: Case, kind: str, at: datetime, *, record_fact: bool = True) -> bool | None:
    """Stop the open `kind` clock (if any) and copy its on_time onto the case; returns the clock's on_time.
    A handling clock's fact is the round's: late if this handling or an earlier one of the round was late."""
    if sla.open_clock(case, kind) is None:
        return None
    c = sla.stop_clock(target=case, kind=kind, at=at)
    if record_fact:
        setattr(case, FACT[kind], round_on_time(case.handled_on_time, c.on_time) if kind == HANDLE else c.on_time)
    return c.on_time


def stop_all(case: Case, at: datetime) -> None:
    """Stop every open clock without recording facts (refused, voided, merged: no step was completed)."""
    sla.stop_clocks(target=case, at=at)


def pause_all(case: Case, at: datetime) -> list[str]:
    """Pause every running clock (挂账); returns the kinds paused."""
    kinds = list(sla.clocks_of(case).filter(state=pure.RUNNING).values_list("kind", flat=True))
    for kind in kinds:
        sla.pause_clock(target=case, kind=kind, at=at)
    return kinds


def resume_all(case: Case, at: datetime) -> list[str]:
    """Resume every paused clock (恢复办理); the deadlines move by the working time spent suspended."""
    kinds = list(sla.clocks_of(case).filter(state=pure.PAUSED).values_list("kind", flat=True))
    for kind in kinds:
        c = sla.resume_clock(target=case, kind=kind, at=at)
        if kind == HANDLE:
            case.deadline = c.due_at
    return kinds


def pause(case: Case, kind: str, at: datetime) -> None:
    if sla.open_clock(case, kind) is not None:
        sla.pause_clock(target=case, kind=kind, at=at)


def resume(case: Case, kind: str, at: datetime) -> None:
    c = sla.open_clock(case, kind)
    if c is not None and c.state == pure.PAUSED:
        sla.resume_clock(target=case, kind=kind, at=at)


def extend(case: Case, kind: str, hours: float, at: datetime) -> SlaClock:
    """Add `hours` (working hours for working-time clocks) to the open clock's budget: an approved 延期. A
    working-days clock stays one and the hours stay hours (`pure.extend`): a later change of the working hours
    keeps its days days and the extension's hours hours.

    The deadline is recomputed from the remaining budget at the same instant; granted after the deadline had
    passed (a request made in time and decided late: the workflow takes no 申请延期 once the deadline has passed,
    `passed_handling_deadline`), the hours run on from the deadline that passed, so fewer hours than the delay
    give a deadline already passed (`pure.extend`). A warning or breach already emitted for the old deadline is
    cleared when the new one lies ahead, so the sweep warns and breaches again against the extended deadline
    (and the case is 超期 again, `handlers.on_sla_breached`).
    """
    if not extension_hours_valid(hours):
        raise ValidationFailed(EXTENSION_RANGE, field="hours")
    qs = SlaClock.objects.filter(target_type=case._meta.label_lower, target_id=str(case.pk), kind=kind,
                                 state__in=OPEN_STATES)
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()
    c = qs.first()
    if c is None:
        raise Conflict("没有进行中的处置时限，无法延期 / no open handling clock to extend")
    try:
        state = pure.extend(c.as_state(), hours * 60, at, sla.get_calendar())
    except pure.ClockError as exc:
        raise Conflict(f"时限“{kind}”无法延期 / {exc}") from None
    ahead = [kind for kind, instant in (("warn", state.warn_at), ("breach", state.due_at))
             if instant is not None and instant > at]
    sla.change_clock(c, state, at, reemit=ahead)
    events.publish("sla.extended", payload={"clock_id": c.pk, "target_type": c.target_type, "target_id": c.target_id,
                                            "kind": kind, "hours": hours,
                                            "due_at": c.due_at.isoformat() if c.due_at else None},
                   region_code=c.region_code)
    if kind == HANDLE:
        case.deadline = c.due_at
    return c


def passed_handling_deadline(case: Case, at: datetime) -> datetime | None:
    """The deadline of the case's open handling clock when it has passed at `at` (the sweep's reading: due at or
    before `at`), else None. A 延期 is asked for before it: once it has passed the handling is late, and more
    time granted then would wipe the lateness off the evaluation (按期处置率, DOMAIN.md §4)."""
    c = sla.open_clock(case, HANDLE)
    if c is None or c.due_at is None or c.due_at > at:
        return None
    return c.due_at


def any_breached(case: Case, at: datetime) -> bool:
    """Whether an open clock of the case is past its deadline at `at`."""
    return sla.clocks_of(case).filter(state__in=OPEN_STATES, due_at__lte=at).exists()


def follow_moved_deadlines(moved: list[mirrors.Moved]) -> None:
    """A working-calendar change moved these clocks of cases (registered with `sla.mirrors`, called in the
    reschedule's transaction): the 处置期限 of each case whose handling deadline moved becomes its clock's new
    deadline, and a case whose deadline moved onto an instant the sweep has passed (its breach is published now)
    is overdue at once, not only once the worker delivers the breach. One UPDATE for the whole batch, reading
    each deadline from the clock itself (a correlated subquery both SQLite and PostgreSQL run per row by the
    clocks' target index). A deadline that had been breached is not moved by the reschedule, so none of these
    cases becomes less late: nothing is taken off `is_overdue` here."""
    handled = {int(m.target_id) for m in moved if m.kind == HANDLE and m.due_changed}
    late = {int(m.target_id) for m in moved if m.breached}
    if not handled and not late:
        return
    changes = {"updated_at": timezone.now()}
    if handled:
        due = SlaClock.objects.filter(target_type=Case._meta.label_lower, target_id=Cast(OuterRef("pk"), CharField()),
                                      kind=HANDLE, state=pure.RUNNING).values("due_at")[:1]
        changes["deadline"] = Coalesce(Subquery(due), F("deadline"))  # a late-only row keeps its own
    if late:
        changes["is_overdue"] = DbCase(When(pk__in=late, status__in=OPEN_STATUSES, then=Value(True)),
                                       default=F("is_overdue"))
    Case.objects.filter(pk__in=handled | late).update(**changes)
