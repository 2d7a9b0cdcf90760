"""运行监控: the system administrator's view of the background work (`config.manage`).

Whether the worker runs (its processes' heartbeats, `core.heartbeat`), how much waits for it (outbox events due,
email and SMS not yet handed over, queued Open311 reports) and what gave up after its last attempt: events whose
handler kept failing, messages the gateway kept refusing, background tasks that failed this week. Those can be
tried again from here, all or the chosen ones (a task only when it redoes derived work; an import or a
retraining is tried again from its own page); each retry is audited by its service. Every read is bounded
(counts stop at `COUNT_CAP`, lists show `LIST` rows), so the page costs a fixed number of queries however much
is waiting.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.core import heartbeat, retries
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.events import tasks as outbox
from civicgrid.foundation.notify import services as notify
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, page_view

CAPABILITY = "config.manage"
COUNT_CAP = 9999  # "9999+" past it
LIST = 50


def _capped(queryset) -> dict:
    n = queryset.order_by().values("pk")[: COUNT_CAP + 1].count()
    return {"count": min(n, COUNT_CAP), "more": n > COUNT_CAP}


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else ""


def _open311() -> dict | None:
    try:
        from civicgrid.integrations.open311.models import QueuedRequest, QueueState
    except ImportError:  # a deployment without the Open311 app
        return None
    return {"pending": _capped(QueuedRequest.objects.filter(state=QueueState.PENDING)),
            "failed": _capped(QueuedRequest.objects.filter(state=QueueState.FAILED))}


TASK_DAYS = 7  # failed tasks of the last week are listed


RERUN_STATES = {"SUCCESSFUL": gettext_noop("已重新运行：成功"), "READY": gettext_noop("已重新排队"),
                "RUNNING": gettext_noop("已重新运行：运行中"), "FAILED": gettext_noop("已重新运行：又失败")}


def _mark_reruns(results, rows: list[dict]) -> None:
    """Mark each listed failure that ran again since (the same task with the same arguments, queued after it
    failed) with how that run went: one query for the page. A failure run again is not offered again."""
    if not rows:
        return
    finished = [r["finished_at"] for r in rows if r["finished_at"]]
    later = results.filter(task_path__in={r["path"] for r in rows})
    if finished:
        later = later.filter(enqueued_at__gt=min(finished))
    runs = list(later.order_by("enqueued_at").values_list("pk", "task_path", "args_kwargs", "enqueued_at", "status"))
    for row in rows:
        after = [status for pk, path, args, at, status in runs
                 if str(pk) != row["id"] and path == row["path"] and (args or {}) == row["args"]
                 and row["finished_at"] and at > row["finished_at"]]
        if after:
            row["rerun"] = RERUN_STATES.get(str(after[-1]), str(after[-1]))
            row["rerunnable"] = False


def _tasks(now) -> dict | None:
    """Background tasks (django-tasks-db): how many wait and run, and those that failed in the last week."""
    results = retries.task_results()
    if results is None:
        return None
    from django.tasks import TaskResultStatus

    failed = results.filter(status=TaskResultStatus.FAILED, finished_at__gte=now - timedelta(days=TASK_DAYS))
    rows = []
    for r in failed.order_by("-finished_at").only("task_path", "args_kwargs", "enqueued_at", "finished_at",
                                                   "exception_class_path", "traceback")[:LIST]:
        arguments = r.args_kwargs or {}
        job = (arguments.get("args") or [None])[0] if r.task_path.endswith(".run_import_task") else None
        rows.append({"id": str(r.pk), "label": retries.TASK_LABELS.get(r.task_path, r.task_path),
                     "enqueued_at": r.enqueued_at, "finished_at": r.finished_at,
                     "error": _last_line(r.traceback) or r.exception_class_path.rsplit(".", 1)[-1],
                     "import_job": job if isinstance(job, int) else None,
                     "router": r.task_path.endswith(".router.tasks.retrain"),
                     "rerunnable": r.task_path in retries.RERUNNABLE, "path": r.task_path, "args": arguments})
    _mark_reruns(results, rows)
    return {"ready": _capped(results.filter(status=TaskResultStatus.READY)),
            "running": _capped(results.filter(status=TaskResultStatus.RUNNING)),
            "failed": _capped(failed), "failed_list": rows, "days": TASK_DAYS}


@page_view(CAPABILITY)
def status(request):
    now = timezone.now()
    due = bus.due_events(now)
    oldest_due = due.values_list("created_at", flat=True).first()
    unsent = notify.unsent(now)
    oldest_unsent = unsent.values_list("created_at", flat=True).first()
    failed_events = [
        {"id": e.pk, "topic": e.topic, "aggregate": f"{e.aggregate_type} {e.aggregate_id}".strip(),
         "created_at": e.created_at, "attempts": e.attempts, "error": _last_line(e.last_error)}
        for e in outbox.failed_events().only("topic", "aggregate_type", "aggregate_id", "created_at", "attempts",
                                             "last_error")[:LIST]
    ]
    given_up = [
        {"id": m.pk, "channel": m.channel, "to": m.to_masked, "subject": m.subject, "created_at": m.created_at,
         "attempts": m.attempts, "error": _last_line(m.error)}
        for m in notify.given_up().only("channel", "to_masked", "subject", "created_at", "attempts", "error")[:LIST]
    ]
    context = {
        "worker": heartbeat.status(now),
        "stale_after": heartbeat.stale_after(),
        "web": heartbeat.running_web(now),
        "web_stale_after": heartbeat.WEB_STALE_AFTER,
        "due": {**_capped(due), "oldest": oldest_due},
        "unsent": {**_capped(unsent), "oldest": oldest_unsent},
        "failed_events": failed_events,
        "failed_events_total": _capped(outbox.failed_events()),
        "given_up": given_up,
        "given_up_total": _capped(notify.given_up()),
        "open311": _open311(),
        "tasks": _tasks(now),
        "list_size": LIST,
        "public_base_url": settings.CIVICGRID_PUBLIC_BASE_URL,
    }
    return render(request, "operations/status.html", context)


def _chosen_ids(request) -> list[int] | None:
    """The ids ticked on the form (None: "all"); a clear error for anything that is not one."""
    if request.POST.get("all") == "1":
        return None
    raw = request.POST.getlist("id")
    try:
        ids = sorted({int(v) for v in raw})
    except ValueError:
        raise ValidationFailed("所选记录无效 / not a record id", field="id") from None
    if not ids:
        raise ValidationFailed("请先勾选要重试的记录 / choose what to retry", field="id")
    return ids


def _retry(request, *, apply, label: str):
    """Retry the chosen rows (the service checks that all of them still gave up, else nothing changes, and
    audits the retry)."""
    try:
        n = apply(_chosen_ids(request), actor=request.user)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("ui:ops_status")
    messages.success(request, f"已重新排队 {n} 条{label}，后台进程将立即重试 / {n} queued again")
    return redirect("ui:ops_status")


@require_POST
@capability_required(CAPABILITY)
def retry_events(request):
    return _retry(request, apply=outbox.retry_failed, label="领域事件")


@require_POST
@capability_required(CAPABILITY)
def retry_messages(request):
    return _retry(request, apply=notify.retry_given_up, label="短信/邮件")


@require_POST
@capability_required(CAPABILITY)
def rerun_task(request):
    try:
        retries.rerun_task(request.POST.get("id", ""), actor=request.user)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("ui:ops_status")
    messages.success(request, "已重新排队该后台任务 / the task was queued again")
    return redirect("ui:ops_status")


urlpatterns = [
    path("", status, name="ops_status"),
    path("events/retry/", retry_events, name="ops_retry_events"),
    path("messages/retry/", retry_messages, name="ops_retry_messages"),
    path("tasks/rerun/", rerun_task, name="ops_rerun_task"),
]
# System administration: no business data (event topics and ids, masked addresses, error lines).
non_data_endpoint("ui:ops_status", "ui:ops_retry_events", "ui:ops_retry_messages", "ui:ops_rerun_task")
register(MenuItem("ops_status", gettext_noop("运行监控"), "ui:ops_status", CAPABILITY, order=89))
