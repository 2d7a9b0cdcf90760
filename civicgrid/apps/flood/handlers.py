"""Reactions to SLA events on response tasks: at 80 % warn whoever must act, on a breach mark the task overdue
and tell them and the command centre. Delivered at least once; each effect is keyed, so redelivery is harmless."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_noop

from civicgrid.foundation.events import bus as events
from civicgrid.foundation.notify import services as notify
from civicgrid.foundation.notify import titles
from civicgrid.foundation.sla import services as sla

from .models import OPEN_TASK_STATUSES, ResponseTask
from .services.common import district_managers, record
from .services.response import ACK_CLOCK, DONE_CLOCK, responsible_users

LABELS = {ACK_CLOCK: "签收", DONE_CLOCK: "完成"}
# What the titles below say before "：<task>", for each label (the inbox shows them in the reader's language).
INBOX_TITLES = titles.register(
    gettext_noop("防汛任务即将超时（签收）"), gettext_noop("防汛任务即将超时（完成）"),
    gettext_noop("防汛任务已超时（签收）"), gettext_noop("防汛任务已超时（完成）"),
    gettext_noop("防汛任务超时未签收"), gettext_noop("防汛任务超时未完成"),
)


def _task_of(event) -> ResponseTask | None:
    payload = event.payload or {}
    if payload.get("target_type") != "flood.responsetask" or payload.get("kind") not in LABELS:
        return None
    if payload.get("state") == "stopped":
        return None
    try:
        return ResponseTask.objects.filter(pk=int(payload["target_id"]), status__in=OPEN_TASK_STATUSES).first()
    except (KeyError, TypeError, ValueError):
        return None


@events.handler("sla.warning", name="flood.task_sla_warning")
def on_warning(event) -> None:
    """即将超时: the task's time is 80 % used; tell whoever must act. Not once its deadline has passed as the
    worker delivers it (as `cases.handlers.on_sla_warning`): the breach's 已超时 tells the same people."""
    task = _task_of(event)
    if task is None or sla.deadline_passed(event.payload.get("due_at")):
        return
    label = LABELS[event.payload["kind"]]
    notify.notify_many(responsible_users(task), "warning", f"防汛任务即将超时（{label}）：{task.title}",
                       f"期限 {sla.due_text(event.payload.get('due_at'))}", target=task,
                       dedupe_prefix=f"flood.sla.warning:{event.payload.get('clock_id')}")


@events.handler("sla.breached", name="flood.task_sla_breached")
def on_breached(event) -> None:
    task = _task_of(event)
    if task is None:
        return
    label = LABELS[event.payload["kind"]]
    with transaction.atomic():
        updated = ResponseTask.objects.filter(pk=task.pk, is_overdue=False).update(is_overdue=True)
        if updated:
            record(None, "task_overdue", task, before={"is_overdue": False}, after={"is_overdue": True},
                   data={"clock_id": event.payload.get("clock_id"), "kind": event.payload["kind"]})
        key = f"flood.sla.breached:{event.payload.get('clock_id')}"
        notify.notify_many(responsible_users(task), "overdue", f"防汛任务已超时（{label}）：{task.title}",
                           task.description[:200], target=task, dedupe_prefix=key)
        notify.notify_many(district_managers(), "supervise", f"防汛任务超时未{label}：{task.title}",
                           f"街道 {task.street.name}", target=task, dedupe_prefix=key + ":centre")
