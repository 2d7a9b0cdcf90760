"""The system administrator's Open311 page: the applications allowed to post (create, change limits and mode,
new key, stop and start) and the queue of reports from queued clients (make them now, retry or dismiss the failed).

Nothing here shows a report's content: clients are configuration, and a queued report appears by its token,
client, times, state and error only (its case, once made, is read through the case pages' scoped path).
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.integrations.open311 import services
from civicgrid.integrations.open311.models import Open311Client, QueuedRequest, QueueState
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required, paginate

CAPABILITY = services.MANAGE
DRAIN_NOW_LIMIT = 1000  # reports one click makes into cases; the worker takes the rest on its passes
HOME = "ui:open311_clients"


def _queue_counts() -> tuple[dict, dict]:
    """Pending and failed reports, in all and per client (two indexed, partial reads: made rows are not
    counted, so the page costs the same however many reports the queue has made)."""
    per_client: dict[int, dict] = {}
    totals = {QueueState.PENDING.value: 0, QueueState.FAILED.value: 0}
    for state in totals:
        rows = (QueuedRequest.objects.filter(state=state).values_list("client").annotate(n=Count("id"))
                .values_list("client", "n"))
        for client_id, n in rows:
            per_client.setdefault(client_id, {})[state] = n
            totals[state] += n
    return totals, per_client


@require_safe
@capability_required(CAPABILITY)
def clients(request):
    """Clients with their mode, limits and queue; the failed queued reports, a page at a time."""
    items = list(Open311Client.objects.order_by("name"))
    totals, per_client = _queue_counts()
    for client in items:
        counts = per_client.get(client.pk, {})
        client.pending_count = counts.get(QueueState.PENDING.value, 0)
        client.failed_count = counts.get(QueueState.FAILED.value, 0)
    failed = paginate(request, QueuedRequest.objects.filter(state=QueueState.FAILED).select_related("client")
                      .only("token", "received_at", "done_at", "error", "client__name").order_by("-id"))
    return render(request, "manage/open311.html", {
        "clients": items, "totals": totals, "failed_page": failed, "page_obj": failed,
        "drain_limit": DRAIN_NOW_LIMIT,
    })


# A client's name is quoted in every message (「…」, "…"): a name may hold the languages' separator " / ".


def _done(request, fn, success: str | None = None):
    """Run a service call; its refusal becomes the page's error message, nothing changed."""
    try:
        result = fn()
    except CivicgridError as exc:
        messages.error(request, exc.message)
        return None
    if success:
        messages.success(request, success)
    return result


def _settings(request) -> dict:
    """A client's settings as the create and change forms post them (the services check them)."""
    return {"jurisdiction": request.POST.get("jurisdiction", ""),
            "rate_per_minute": request.POST.get("rate_per_minute", ""), "burst": request.POST.get("burst", ""),
            "queued": request.POST.get("queued") in {"1", "on", "true"}}


@require_POST
@capability_required(CAPABILITY)
def client_create(request):
    """A new client; its key is shown once."""
    made = _done(request, lambda: services.create_client(actor=request.user, name=request.POST.get("name", ""),
                                                       **_settings(request)))
    if made:
        client, key = made
        messages.success(request, f"已创建客户端「{client.name}」。api_key（只显示这一次，请交给对方妥善保存）：{key} / "
                                  f"client \"{client.name}\" created. api_key (shown once; hand it over safely): {key}")
    return redirect(HOME)


@require_POST
@capability_required(CAPABILITY)
def client_update(request, pk: int):
    client = get_object_or_404(Open311Client, pk=pk)
    _done(request, lambda: services.update_client(actor=request.user, client=client, **_settings(request)),
          f"「{client.name}」已保存 / client \"{client.name}\" saved")
    return redirect(HOME)


@require_POST
@capability_required(CAPABILITY)
def client_active(request, pk: int):
    client = get_object_or_404(Open311Client, pk=pk)
    active = request.POST.get("active") == "1"
    _done(request, lambda: services.set_client_active(actor=request.user, client=client, active=active),
          f"「{client.name}」已启用 / client \"{client.name}\" enabled" if active
          else f"「{client.name}」已停用，其 api_key 不再可用 / client \"{client.name}\" disabled; its api_key no longer "
               "works")
    return redirect(HOME)


@require_POST
@capability_required(CAPABILITY)
def client_rotate(request, pk: int):
    client = get_object_or_404(Open311Client, pk=pk)
    made = _done(request, lambda: services.rotate_key(actor=request.user, client=client))
    if made:
        messages.success(request, f"「{client.name}」已换发密钥，旧密钥即刻失效。新 api_key（只显示这一次）：{made[1]} / "
                                  f"client \"{client.name}\" has a new api_key (shown once; the old one no longer "
                                  f"works): {made[1]}")
    return redirect(HOME)


@require_POST
@capability_required(CAPABILITY)
def queue_retry(request):
    tokens = request.POST.getlist("token")[:1000]
    n = _done(request, lambda: services.retry_queued(actor=request.user, tokens=tokens))
    if n:
        messages.success(request, f"{n} 件上报已重新排队，下一批即立卷 / {n} reports back in the queue")
    return redirect(HOME)


@require_POST
@capability_required(CAPABILITY)
def queue_dismiss(request):
    """Give up on the chosen failed reports, once the administrator has ticked the confirmation."""
    tokens = request.POST.getlist("token")[:1000]
    if request.POST.get("confirm") != "1":
        messages.error(request, "请勾选“确认放弃”后再提交：放弃后这些上报不再立卷 / tick the confirmation first: "
                                "dismissed reports are never made")
        return redirect(HOME)
    n = _done(request, lambda: services.dismiss_queued(actor=request.user, tokens=tokens))
    if n:
        messages.success(request, f"已放弃 {n} 件未能立卷的上报 / {n} failed reports dismissed")
    return redirect(HOME)


@require_POST
@capability_required(CAPABILITY)
def queue_drain(request):
    n = _done(request, lambda: services.drain(limit=DRAIN_NOW_LIMIT))
    if n is not None:
        messages.success(request, f"本次处理 {n} 件排队上报 / {n} queued reports taken")
    return redirect(HOME)


urlpatterns = [
    path("", clients, name="open311_clients"),
    path("new/", client_create, name="open311_client_create"),
    path("<int:pk>/", client_update, name="open311_client_update"),
    path("<int:pk>/active/", client_active, name="open311_client_active"),
    path("<int:pk>/rotate/", client_rotate, name="open311_client_rotate"),
    path("queue/retry/", queue_retry, name="open311_queue_retry"),
    path("queue/dismiss/", queue_dismiss, name="open311_queue_dismiss"),
    path("queue/drain/", queue_drain, name="open311_queue_drain"),
]
# Clients are configuration and the queue is shown by token and state only: the capability decides who
# reaches these (the system administrator), as for accounts.
non_data_endpoint(*(f"ui:{p.name}" for p in urlpatterns))
register(MenuItem("open311_clients", "Open311 接入", HOME, CAPABILITY, order=92))
