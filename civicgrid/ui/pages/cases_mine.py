"""我的上报: the reports a signed-in account made itself, each with a link to its follow page.

A resident does not read case files (`/cases/<number>/` answers 403), and the follow link is shown once on the
report's success card (and sent in the 已收到 message). This page lists the account's own reporter rows only
(`cases.selectors.own_reports`: `CaseReporter.user` is the account), so the follow token of each row is the
reporter's own: the link opens their follow page as the success card's did. Another person's report never
appears, whatever the page. One page is three queries (the count, the rows with their cases), however long.

Titles are shown masked (`Case.title_masked`), as every other list shows them: a phone number typed into a title
is not put on a page that may be open on a shared or borrowed phone.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from civicgrid.apps.cases import selectors
from civicgrid.apps.cases.models import Status
from civicgrid.foundation.access.scope import has_capability

from .common import paginate

PAGE_SIZE = 20


@never_cache
@require_safe
@login_required
def my_reports(request):
    """The signed-in account's own reports, newest first, 20 a page."""
    page_obj = paginate(request, selectors.own_reports(request.user), per_page=PAGE_SIZE)
    labels = dict(Status.choices)
    rows = [{"pk": r.pk, "number": r.original_case.number, "title": r.original_case.title_masked,
             "reported_at": r.original_case.reported_at, "status": r.case.status,
             "status_label": labels.get(r.case.status, r.case.status),
             # A report merged into another case is followed on that case, as its follow page shows.
             "merged_into": r.case.number if r.case_id != r.original_case_id else "",
             "url": reverse("ui:follow", args=[r.follow_token])}
            for r in page_obj.object_list]
    return render(request, "cases/mine.html", {"page_obj": page_obj, "rows": rows,
                                               "can_report": has_capability(request.user, "cases.report")})
