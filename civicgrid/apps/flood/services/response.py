"""Signals and the district response: what a reading raises, and the explicit, audited lowering and lifting.

Rules: a reading raises its street's signal when its signal is higher than the street's active one; the
district signal is the highest active street signal. The signal's response level (ResponseRule) raises the
district's response when higher than the current level; nothing is ever lowered by a reading. Each raise issues
the tasks of the street's signal level and every lower level not yet issued to that street in this response, for
the street and for its flood-season 包保 department. Lowering and lifting are actions of the command centre or a
leader (`flood.manage`) with a reason; lifting ends the response and clears every street signal.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from civicgrid.apps.hazards.models import PatronAssignment, PatronKind
from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.errors import Conflict
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify import titles
from civicgrid.foundation.regions.models import Region
from civicgrid.foundation.sla import services as sla

from .. import rules
from ..models import (
    LEVEL_NUMERAL,
    FloodResponse,
    Level,
    RainfallReading,
    ResponseChange,
    ResponseTask,
    Signal,
    StreetSignal,
    TaskTarget,
    TaskTemplate,
    WaterLevelReading,
    level_rank,
    signal_rank,
)
from .common import (
    Invalid,
    department_handlers,
    lock_rows,
    publish,
    record,
    require_district,
    street_staff,
    user_or_none,
)

ACK_CLOCK = "flood.task.ack"
DONE_CLOCK = "flood.task.done"
SIGNAL_LABELS = dict(Signal.choices)
# What inbox titles say before "：<task or station>" (the inbox shows them in the reader's language).
INBOX_TITLES = titles.register(gettext_noop("新防汛任务"), gettext_noop("超保证水位"), gettext_noop("超警戒水位"))


def active_response(*, lock: bool = False) -> FloodResponse | None:
    qs = FloodResponse.objects.filter(is_active=True)
    return (lock_rows(qs) if lock else qs).first()


def district_signal() -> str:
    """The highest active street signal, or `none`."""
    best = Signal.NONE.value
    for value in StreetSignal.objects.filter(is_active=True).values_list("signal", flat=True):
        if signal_rank(value) > signal_rank(best):
            best = value
    return best


def _raise_street_signal(reading: RainfallReading, actor) -> StreetSignal | None:
    """Raise the street's active signal to the reading's when higher; None when nothing changed."""
    current = lock_rows(StreetSignal.objects.filter(region_code=reading.street_code, is_active=True)).first()
    if current is not None and signal_rank(reading.signal) <= signal_rank(current.signal):
        return None
    now = timezone.now()
    if current is None:
        street = Region.objects.get(code=reading.street_code)
        current = StreetSignal(street=street, region_code=street.code, signal=reading.signal, reading=reading,
                               since=now)
        before = None
    else:
        before = snapshot(current)
        current.signal, current.reading, current.since = reading.signal, reading, now
    current.save()
    record(actor, "signal_raised", current, before=before, after=snapshot(current),
           data={"reading_id": reading.pk})
    publish("signal_raised", payload={"street_code": current.region_code, "signal": current.signal,
                                      "reading_id": reading.pk}, aggregate=current)
    return current


def _start_or_raise(level: str, *, actor, reason: str, reading: RainfallReading | None = None) -> FloodResponse:
    """Start a response at `level`, or raise the active one to it (never lowers)."""
    now = timezone.now()
    active = active_response(lock=True)
    if active is None:
        response = FloodResponse(level=level, started_at=now, started_by_reading=reading)
        try:
            with transaction.atomic():
                response.save()
        except IntegrityError:  # another reading started it a moment ago
            active = active_response(lock=True)
        else:
            ResponseChange.objects.create(response=response, from_level="", to_level=level, reason=reason[:500],
                                          reading=reading, actor=user_or_none(actor), at=now)
            record(actor, "response_started", response, after=snapshot(response), data={"reason": reason})
            publish("response_changed", payload={"response_id": response.pk, "from": None, "to": level},
                    aggregate=response)
            return response
    if level_rank(level) > level_rank(active.level):
        before = snapshot(active)
        old = active.level
        active.level = level
        active.save(update_fields=["level"])
        ResponseChange.objects.create(response=active, from_level=old, to_level=level, reason=reason[:500],
                                      reading=reading, actor=user_or_none(actor), at=now)
        record(actor, "response_raised", active, before=before, after=snapshot(active), data={"reason": reason})
        publish("response_changed", payload={"response_id": active.pk, "from": old, "to": level}, aggregate=active)
    return active


def apply_reading(reading: RainfallReading, *, actor) -> None:
    """Raise the street signal and the district response for a reading, and issue the street's tasks."""
    if signal_rank(reading.signal) == 0:
        return
    # Readings of one street are applied one at a time (its signal row and its tasks are unique per street);
    # SQLite's immediate transactions serialise every writer anyway.
    street = lock_rows(Region.objects.filter(code=reading.street_code)).get()
    _raise_street_signal(reading, actor)
    level = rules.level_for(reading.signal)
    if level is None:
        return
    reason = (f"{reading.station.code} {reading.window_hours} 小时雨量 {reading.rain_mm} 毫米，"
              f"达到{SIGNAL_LABELS.get(reading.signal, reading.signal)}")
    response = _start_or_raise(level, actor=actor, reason=reason, reading=reading)
    cap = level if level_rank(level) <= level_rank(response.level) else response.level
    issue_tasks(response, street, rules.levels_up_to(cap), actor=actor)


def patron_department_id(street_code: str) -> int | None:
    return (PatronAssignment.objects.filter(street_code=street_code, kind=PatronKind.FLOOD)
            .values_list("department_id", flat=True).first())


def issue_tasks(response: FloodResponse, street: Region, levels: list[str], *, actor) -> list[ResponseTask]:
    """Create the tasks of `levels` not yet issued to this street in this response: the street's own and its
    包保 department's (each carries the patron department, so the department follows its streets' tasks)."""
    templates = list(TaskTemplate.objects.filter(is_active=True, level__in=levels).order_by("level", "order", "id"))
    if not templates:
        return []
    patron_id = patron_department_id(street.code)
    issued = set(ResponseTask.objects.filter(response=response, region_code=street.code)
                 .values_list("template_id", "target"))
    now = timezone.now()
    created = []
    for t in sorted(templates, key=lambda t: (level_rank(t.level), t.order, t.id)):
        if (t.pk, t.target) in issued or (t.target == TaskTarget.DEPARTMENT and patron_id is None):
            continue
        task = ResponseTask(
            response=response, template=t, level=t.level, target=t.target, title=t.title, description=t.description,
            street=street, region_code=street.code, department_id=patron_id, lists_hazards=t.lists_hazards,
            issued_at=now,
        )
        task.save()
        clock = sla.start_clock(target=task, kind=ACK_CLOCK, limit=("natural_hours", t.ack_minutes / 60), at=now,
                                region_code=street.code)
        task.ack_due_at = clock.due_at
        task.save(update_fields=["ack_due_at"])
        record(actor, "task_issued", task, after=snapshot(task))
        publish("task_issued", payload={"task_id": task.pk, "street_code": street.code, "level": t.level,
                                        "target": t.target, "department_id": task.department_id}, aggregate=task)
        _tell(task, "新防汛任务", f"{LEVEL_NUMERAL[task.level]}级响应：{task.title}（{street.name}），请在期限内签收")
        created.append(task)
    return created


def responsible_users(task: ResponseTask):
    if task.target == TaskTarget.DEPARTMENT:
        return department_handlers(task.department_id)
    return street_staff(task.region_code)


def _tell(task: ResponseTask, title: str, body: str, *, dedupe: str | None = None) -> int:
    return notify.notify_many(responsible_users(task), "flood", f"{title}：{task.title}", body, target=task,
                              dedupe_prefix=dedupe or f"flood.task.issued:{task.pk}", url=f"/flood/tasks/#task-{task.pk}")


def tell_water_alarm(reading: WaterLevelReading) -> int:
    label = "超保证水位" if reading.status == "over_guaranteed" else "超警戒水位"
    return notify.notify_many(street_staff(reading.street_code), "flood", f"{label}：{reading.station.name}",
                              f"{timezone.localtime(reading.observed_at):%m-%d %H:%M} 水位 {reading.level_m} 米",
                              target=reading, dedupe_prefix=f"flood.water:{reading.pk}")


def _reason(reason) -> str:
    text = str(reason or "").strip()
    if not text:
        raise Invalid("请填写理由 / a reason is required", field="reason")
    if len(text) > 500:
        raise Invalid("理由最长 500 字 / reason too long", field="reason")
    return text


def change_level(*, actor, level: str, reason: str) -> FloodResponse:
    """Set the district response level by hand (start, raise or lower), with a reason; audited. A raise issues the
    new levels' tasks to every street whose signal is active."""
    require_district(actor, "调整应急响应")
    text = _reason(reason)
    if level not in Level.values:
        raise Invalid("响应等级须为 IV、III、II 或 I / level must be IV, III, II or I", field="level")
    with transaction.atomic():
        active = active_response(lock=True)
        if active is not None and active.level == level:
            raise Conflict(f"当前已是{LEVEL_NUMERAL[level]}级响应 / the response is already at this level")
        if active is None or level_rank(level) > level_rank(active.level):
            response = _start_or_raise(level, actor=actor, reason=text)
            for sig in StreetSignal.objects.filter(is_active=True).select_related("street"):
                issue_tasks(response, sig.street, rules.levels_up_to(level), actor=actor)
            return response
        before = snapshot(active)
        old = active.level
        active.level = level
        active.save(update_fields=["level"])
        ResponseChange.objects.create(response=active, from_level=old, to_level=level, reason=text,
                                      actor=user_or_none(actor), at=timezone.now())
        record(actor, "response_lowered", active, before=before, after=snapshot(active), data={"reason": text})
        publish("response_changed", payload={"response_id": active.pk, "from": old, "to": level}, aggregate=active)
        return active


def lift_response(*, actor, reason: str) -> FloodResponse:
    """解除应急响应: end the active response and clear every street signal, with a reason; audited."""
    require_district(actor, "解除应急响应")
    text = _reason(reason)
    with transaction.atomic():
        active = active_response(lock=True)
        if active is None:
            raise Conflict("当前没有进行中的应急响应 / there is no active response to lift")
        before = snapshot(active)
        now = timezone.now()
        old = active.level
        active.is_active, active.ended_at, active.ended_by, active.end_reason = False, now, user_or_none(actor), text
        active.save(update_fields=["is_active", "ended_at", "ended_by", "end_reason"])
        ResponseChange.objects.create(response=active, from_level=old, to_level="", reason=text,
                                      actor=user_or_none(actor), at=now)
        cleared = list(StreetSignal.objects.filter(is_active=True).values_list("region_code", "signal"))
        StreetSignal.objects.filter(is_active=True).update(is_active=False, cleared_at=now)
        record(actor, "response_lifted", active, before=before, after=snapshot(active),
               data={"reason": text, "signals_cleared": [list(c) for c in cleared]})
        publish("response_changed", payload={"response_id": active.pk, "from": old, "to": None, "reason": text},
                aggregate=active)
        return active
