"""Response tasks: 签收 (acknowledge; stops the acknowledgement clock) and 完成 (done, with a note)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.audit.service import snapshot
from civicgrid.foundation.core.errors import NotFound
from civicgrid.foundation.sla import services as sla

from ..models import ResponseTask, TaskStatus
from ..workflow import TASK_WORKFLOW
from .common import Invalid, lock_rows, publish, record, user_or_none
from .response import ACK_CLOCK, DONE_CLOCK

NOT_FOUND = "未找到该任务，或不在您的权限范围内 / task not found"


def _locked(actor, task_id) -> ResponseTask:
    try:
        return lock_rows(ResponseTask.objects.visible_to(actor, "view")).get(pk=int(task_id))
    except (ResponseTask.DoesNotExist, TypeError, ValueError):
        raise NotFound(NOT_FOUND) from None


def acknowledge(*, actor, task_id) -> ResponseTask:
    """签收 a task of one's street or department."""
    with transaction.atomic():
        task = _locked(actor, task_id)
        TASK_WORKFLOW.check(task, actor, "ack")
        before = snapshot(task)
        now = timezone.now()
        task.status, task.acknowledged_at, task.acknowledged_by = TaskStatus.ACKNOWLEDGED, now, user_or_none(actor)
        task.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        if sla.open_clock(task, ACK_CLOCK) is not None:
            sla.stop_clock(target=task, kind=ACK_CLOCK, at=now)
        hours = task.template.done_hours if task.template_id and task.template else None
        if hours:
            sla.start_clock(target=task, kind=DONE_CLOCK, limit=("natural_hours", hours), at=now,
                            region_code=task.region_code)
        record(actor, "task_acknowledged", task, before=before, after=snapshot(task))
        publish("task_acknowledged", payload={"task_id": task.pk, "street_code": task.region_code}, aggregate=task)
    return task


def complete(*, actor, task_id, note: str) -> ResponseTask:
    """完成 an acknowledged task, saying what was done."""
    text = str(note or "").strip()
    if len(text) > 2000:
        raise Invalid("完成情况最长 2000 字 / note too long", field="note")
    with transaction.atomic():
        task = _locked(actor, task_id)
        TASK_WORKFLOW.check(task, actor, "done", {"note": "-"})
        if not text:
            raise Invalid("请填写完成情况 / say what was done (note)", field="note")
        before = snapshot(task)
        now = timezone.now()
        task.status, task.done_at, task.done_by, task.done_note = TaskStatus.DONE, now, user_or_none(actor), text
        task.save(update_fields=["status", "done_at", "done_by", "done_note"])
        sla.stop_clocks(target=task, at=now)
        record(actor, "task_done", task, before=before, after=snapshot(task))
        publish("task_done", payload={"task_id": task.pk, "street_code": task.region_code}, aggregate=task)
    return task
