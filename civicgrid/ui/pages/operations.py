"""运行监控: the system administrator's view of the background work (`config.manage`).

Whether the worker runs (its processes' heartbeats, `core.heartbeat`), how much waits for it (outbox events due,
email and SMS not yet handed over, queued Open311 reports) and what gave up after its last attempt: events whose
handler kept failing, messages the gateway kept refusing. Those can be tried again from here, all or the chosen
ones; each retry is audited. Every read is bounded (counts stop at `COUNT_CAP`, lists show the oldest `LIST`),
so the page costs a fixed number of queries however much is waiting.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.audit.service import record
from civicgrid.foundation.core import heartbeat
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.events import bus
from civicgrid.foundation.events import tasks as outbox
from civicgrid.foundation.notify import services as notify
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, page_view

CAPABILITY = "config.manage"
COUNT_CAP = 9999  # "9999+" past it
LIST = 50
AUDIT_EVENTS_RETRIED = "ops.events_retried"
AUDIT_MESSAGES_RETRIED = "ops.messages_retried"


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
        "due": {**_capped(due), "oldest": oldest_due},
        "unsent": {**_capped(unsent), "oldest": oldest_unsent},
        "failed_events": failed_events,
        "failed_events_total": _capped(outbox.failed_events()),
        "given_up": given_up,
        "given_up_total": _capped(notify.given_up()),
        "open311": _open311(),
        "list_size": LIST,
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


def _retry(request, *, queryset, apply, action: str, label: str):
    """Retry the chosen rows of `queryset` (all of them must still be there: else nothing changes), audited."""
    try:
        ids = _chosen_ids(request)
        with transaction.atomic():
            if ids is not None:
                found = set(queryset.filter(pk__in=ids).values_list("pk", flat=True))
                if found != set(ids):
                    missing = ", ".join(str(i) for i in sorted(set(ids) - found)[:5])
                    raise ValidationFailed(f"以下记录已不在「放弃重试」之列（已重试或已删除）：{missing}，未作任何改动 / "
                                           f"no longer given up: {missing}; nothing was changed", field="id")
            n = apply(ids)
            record(actor=request.user, action=action, data={"ids": ids if ids is not None else "all", "count": n})
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("ui:ops_status")
    messages.success(request, f"已重新排队 {n} 条{label}，后台进程将立即重试 / {n} queued again")
    return redirect("ui:ops_status")


@require_POST
@capability_required(CAPABILITY)
def retry_events(request):
    return _retry(request, queryset=outbox.failed_events(), apply=outbox.retry_failed,
                  action=AUDIT_EVENTS_RETRIED, label="领域事件")


@require_POST
@capability_required(CAPABILITY)
def retry_messages(request):
    return _retry(request, queryset=notify.given_up(), apply=notify.retry_given_up,
                  action=AUDIT_MESSAGES_RETRIED, label="短信/邮件")


urlpatterns = [
    path("", status, name="ops_status"),
    path("events/retry/", retry_events, name="ops_retry_events"),
    path("messages/retry/", retry_messages, name="ops_retry_messages"),
]
# System administration: no business data (event topics and ids, masked addresses, error lines).
non_data_endpoint("ui:ops_status", "ui:ops_retry_events", "ui:ops_retry_messages")
register(MenuItem("ops_status", gettext_noop("运行监控"), "ui:ops_status", CAPABILITY, order=89))
