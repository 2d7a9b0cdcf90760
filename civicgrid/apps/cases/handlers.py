"""Reactions to SLA events on case clocks: warn the responsible people at 80 %, and on a breach mark the case
overdue, put it under supervision (超期自动督办) and tell the responsible people and the leaders. A case marked
major (重大事件, `case.marked_major`, at report or later by 标记重大事件) is brought to the leaders too: 督办 covers "an overdue or major case".

Delivered after commit by the worker, at least once: each effect is keyed (the auto-supervision step by clock,
inbox messages by a dedupe key), so a redelivered event changes nothing.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.core.localtimes import district_times
from civicgrid.foundation.events import bus as events
from civicgrid.foundation.sla import services as sla
from civicgrid.foundation.sla.models import OPEN_STATES, SlaClock

from . import recipients
from .clocks import KINDS
from .models import OPEN_STATUSES, Case, CaseStep, Status
from .services.common import add_step, lock, publish, record

log = logging.getLogger(__name__)

KIND_LABELS = {"case.intake": "受理", "case.check": "核实", "case.dispatch": "派遣", "case.handle": "处置",
               "case.verify": "核查", "case.close": "结案"}


def _case_of(event) -> Case | None:
    payload = event.payload or {}
    if payload.get("target_type") != "cases.case" or payload.get("kind") not in KINDS:
        return None
    if payload.get("state") == "stopped":
        return None  # a step finished late: its on_time fact says so; there is nothing left to chase
    try:
        return Case.objects.select_related("department").filter(pk=int(payload["target_id"])).first()
    except (KeyError, TypeError, ValueError):
        return None


def _clock_open(event) -> bool:
    """Whether the clock the event is about is still open (running, or paused by 挂账) as the worker delivers
    it. The sweep publishes while the clock runs, but the event may wait in the outbox while the step ends: a
    task message about that step would then arrive after the transition that settles such messages
    (`recipients.TASKS`) has run, and stay unsettled in the inbox."""
    clock_id = (event.payload or {}).get("clock_id")
    try:
        clock_id = int(clock_id)
    except (TypeError, ValueError):
        return True  # an event without its clock: judged by the case's status alone, as before
    return SlaClock.objects.filter(pk=clock_id, state__in=OPEN_STATES).exists()


@events.handler("categories.*", name="cases.forget_intake_lookups")
def on_categories_changed(event) -> None:
    """A category, routing rule or import changed: intake's per-process tables are dropped at once here (other
    processes notice the change by the data's stamp)."""
    from .services.intake import forget_lookups

    forget_lookups()


@events.handler("sla.warning", name="cases.sla_warning")
def on_sla_warning(event) -> None:
    """预警: the step's time is 80 % used; tell whoever answers for it. Not once its deadline has passed (the
    worker was away, or the sweep ran late and queued the warning with the breach): 即将超期 would then be
    false, and the breach's own 已超期 message (`on_sla_breached`) tells the same people; nothing is sent here
    in its place."""
    case = _case_of(event)
    if case is None or case.status not in OPEN_STATUSES or not _clock_open(event):
        return  # a step already ended leaves nothing to warn of
    if sla.deadline_passed(event.payload.get("due_at")):
        return
    kind = event.payload["kind"]
    users = recipients.responsible_for(case, kind)
    due = sla.due_text(event.payload.get("due_at"))
    recipients.tell_staff(users, case, "warning", f"{KIND_LABELS[kind]}即将超期", f"{case.title}（期限 {due}）",
                          dedupe=f"sla.warning:{event.payload.get('clock_id')}", body_en=f"{case.title} (due {due})")


@events.handler("sla.breached", name="cases.sla_breached")
def on_sla_breached(event) -> None:
    """超期: mark the case overdue and escalate it to the supervision queue, once per clock."""
    found = _case_of(event)
    if found is None:
        return
    kind, clock_id, due_at = event.payload["kind"], event.payload.get("clock_id"), event.payload.get("due_at")
    # Once per deadline of a clock: a redelivered event names the same one; a 延期 approved after the deadline
    # (`clocks.extend`) takes the case off 超期 and gives the same clock a later deadline, whose breach is news:
    # the case is overdue again, and its people and leaders are told again.
    breach = f"{clock_id}:{due_at}"
    with transaction.atomic():
        case = lock(found)
        if case.status not in OPEN_STATUSES and case.status != Status.SUSPENDED:
            return
        # (compared as the step stores it: instants in the district's zone, `TimelineStep.entry`)
        if CaseStep.objects.filter(case=case, action="auto_supervise", data__clock_id=clock_id,
                                   data__due_at=district_times(due_at, timezone.get_default_timezone())).exists():
            return  # already escalated for this deadline of this clock (redelivery)
        before = {"is_overdue": case.is_overdue, "is_supervised": case.is_supervised}
        case.is_overdue = True
        case.is_supervised = True
        case.save(update_fields=["is_overdue", "is_supervised", "updated_at"])
        now = timezone.now()
        add_step(case, action="auto_supervise", actor="system", at=now, note="超期自动督办",
                 note_en="overdue: put under supervision automatically",
                 data={"clock_id": clock_id, "kind": kind, "due_at": event.payload.get("due_at")},
                 department=case.department)
        record(case, actor="system", action="auto_supervise", before=before,
               data={"clock_id": clock_id, "kind": kind})
        publish(case, "auto_supervised", kind=kind, clock_id=clock_id)
        label = KIND_LABELS[kind]
        # The breach happened while the step was open, so the case's marks stand however late this is
        # delivered; but once the step has ended, the step that ended it has already settled the task messages
        # of the kind, and a new "overdue" would ask for a step no one can take any more.
        if _clock_open(event):
            due = sla.due_text(event.payload.get("due_at"))  # the deadline passed, as the warning names it
            recipients.tell_staff(recipients.responsible_for(case, kind), case, "overdue", f"{label}已超期",
                                  f"{case.title}（期限 {due}）", dedupe=f"sla.breached:{breach}",
                                  body_en=f"{case.title} (due {due})")
        # The leaders are told for their information ("auto_supervise", not a task: `recipients.TASKS` settles
        # the "supervise" messages that ask for the step once it is taken).
        recipients.tell_staff(recipients.leaders(case), case, "auto_supervise", f"超期自动督办（{label}）",
                              dedupe=f"sla.supervise:{breach}")


@events.handler("case.marked_major", name="cases.major_to_leaders")
def on_marked_major(event) -> None:
    """重大事件: tell the leaders who may put the case under supervision (`cases.supervise` over its region, as
    超期自动督办 tells them), for their information; once per case however often the event is delivered."""
    if event.aggregate_type != "cases.case":
        return
    try:
        case = Case.objects.filter(pk=int(event.aggregate_id), is_major=True).first()
    except (TypeError, ValueError):
        return
    if case is None:
        return
    payload = event.payload or {}
    if payload.get("action") != "mark_major":  # marked at report (`at_report`): the report's notice
        recipients.tell_staff(recipients.leaders(case), case, "major", "重大事件", dedupe=f"case.major:{case.pk}")
        return
    # Marked later (标记重大事件): the same notice with the reason, once per marking (a case unmarked and marked
    # again is news again), and not to the leader who marked it.
    step_id = payload.get("step_id")
    if not isinstance(step_id, int):
        return
    step = CaseStep.objects.filter(pk=step_id, case=case, action="mark_major").select_related("actor").first()
    if step is None:
        return
    recipients.tell_staff(recipients.leaders(case), case, "major", "重大事件", f"{case.title}：{step.note}",
                          dedupe=f"case.major:{case.pk}:{step.pk}", actor=step.actor)
