"""The user's inbox (消息): their own notifications, newest first, with marking read.

Reads and writes go through `foundation.notify.services` (`inbox`, `unread_state`, `mark_read`, `mark_all_read`),
which only ever reach the signed-in user's own messages. 「全部标为已读」 marks what the page counted: the form
carries the newest unread message's id, and one that came in after the page was drawn stays unread. A message
about a case links to the case's page (the link is made only for cases the user may open; the page checks scope
again anyway); for someone without case pages (a resident), or
for a case outside the user's scope that carries their own report (merged into it), it links to the follow page
through their own follow token, and otherwise nowhere. The header's unread badge is the template tag
`inbox_badge` (`civicgrid/ui/templatetags/civicgrid_inbox.py`), one COUNT per page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST, require_safe

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Case, CaseReporter
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.core.errors import NotFound
from civicgrid.foundation.notify import services
from civicgrid.ui.navigation import MenuItem, register

from .common import paginate


def unread_count(user) -> int:
    """How many of the user's messages are unread (the header badge)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return services.inbox(user, unread_only=True).count()


def _case_links(user, notifications) -> dict[str, str]:
    """Case page URLs for the messages of a page that are about cases the user may open (one query)."""
    ids = {n.target_id for n in notifications if n.target_type == "cases.case" and n.target_id.isdigit()}
    if not ids:
        return {}
    pks = [int(i) for i in ids if len(i) < 19]
    if selectors.may_read_case_files(user):
        rows = Case.objects.visible_to(user).filter(pk__in=pks).values_list("pk", "number")
        links = {str(pk): reverse("ui:case_detail", args=[number]) for pk, number in rows}
        # Staff's own report merged into a case outside their scope: its messages are about that case, whose
        # page answers 404; they follow it by their follow link, as 我的上报 does.
        unseen = [pk for pk in pks if str(pk) not in links]
        return {**(_follow_links(user, unseen) if unseen else {}), **links}
    return _follow_links(user, pks)


def _follow_links(user, case_ids: list[int]) -> dict[str, str]:
    """Follow-page URLs for the cases the user reported (the case page would answer 403 without `cases.view`).
    A report merged into another case follows the case it was merged into, as its follow page shows."""
    rows = (CaseReporter.objects.filter(user=user)
            .filter(Q(case_id__in=case_ids) | Q(original_case_id__in=case_ids))
            .order_by("pk").values_list("case_id", "original_case_id", "follow_token"))
    rows = [(str(case_id), str(original_id), token) for case_id, original_id, token in rows if token]
    links: dict[str, str] = {}
    for case_id, _original, token in rows:  # the case the message is about first
        links.setdefault(case_id, reverse("ui:follow", args=[token]))
    for _case, original_id, token in rows:
        links.setdefault(original_id, reverse("ui:follow", args=[token]))
    return links


@require_safe
@login_required
def inbox_list(request):
    """The user's messages (`?unread=1` for unread only), 50 a page."""
    unread_only = request.GET.get("unread") == "1"
    page_obj = paginate(request, services.inbox(request.user, unread_only=unread_only))
    links = _case_links(request.user, page_obj.object_list)
    # Other apps' messages carry their own page path (the page checks scope itself); only local paths are kept.
    rows = [{"n": n, "url": links.get(n.target_id, "") if n.target_type == "cases.case" else
             (n.url if n.url.startswith("/") and not n.url.startswith("//") else "")}
            for n in page_obj.object_list]
    unread, newest_unread = services.unread_state(request.user)
    return render(request, "inbox/list.html", {"page_obj": page_obj, "rows": rows, "unread_only": unread_only,
                                               "unread": unread, "newest_unread": newest_unread})


def _back(request) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("ui:inbox")


@require_POST
@login_required
def inbox_read(request, pk: int):
    """Mark one message read, then back to the inbox, or on to `next` (the case the message is about)."""
    try:
        services.mark_read(actor=request.user, notification_id=pk)
    except NotFound:
        raise Http404 from None
    return redirect(_back(request))


@require_POST
@login_required
def inbox_read_all(request):
    """Mark the user's unread messages read (all of them, not only the page's) up to the newest the page counted
    (`up_to`, its id): one UPDATE however many there are. A message that came in after the page was drawn stays
    unread; without `up_to` (a form older than it) every unread message is marked. The flash message says how
    many; an `up_to` that is not a message id changes nothing and says so."""
    raw = request.POST.get("up_to")
    if raw is None:
        up_to = None
    elif raw.isascii() and raw.isdigit() and len(raw) <= 18:
        up_to = int(raw)
    else:
        messages.error(request, _("「全部标为已读」的范围无效，没有消息被标为已读；请刷新页面后重试。"))
        return redirect(_back(request))
    marked = services.mark_all_read(actor=request.user, up_to=up_to)
    messages.success(request, _("已将 %(n)s 条消息标为已读。") % {"n": marked})
    return redirect(_back(request))


urlpatterns = [
    path("", inbox_list, name="inbox"),
    path("<int:pk>/read/", inbox_read, name="inbox_read"),
    path("read-all/", inbox_read_all, name="inbox_read_all"),
]

data_endpoint("ui:inbox", "notify.Notification", "list")
# Writes on the caller's own messages only (another user's message is simply not found).
non_data_endpoint("ui:inbox_read", "ui:inbox_read_all")

register(MenuItem("inbox", gettext_noop("消息"), "ui:inbox", None, order=90))
