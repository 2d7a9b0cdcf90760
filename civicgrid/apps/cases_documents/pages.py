"""Download pages: the case ledger (xlsx, with the case list's filters) and one case's file (PDF).

    /documents/cases/ledger.xlsx?status=open&region=140213050&date_from=2026-05-01&date_to=2026-05-31
    /documents/cases/<number>.pdf
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from civicgrid.apps.cases.selectors import filter_from_query
from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.core.downloads import PDF_TYPE, XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed

from . import casefile, ledger, ledger_files


@require_safe
@login_required
def case_ledger(request):
    """事件台账 (xlsx): the cases of the user's export scope, with the case list's filters (read as the list reads
    them, `selectors.filter_from_query`, and refused as it refuses them); audited."""
    try:
        built = ledger.export_or_queue(request.user, filter_from_query(request.GET))
    except PermissionDenied:
        raise DjangoPermissionDenied from None
    except ValidationFailed as exc:
        # The site's 400 page says it in the reader's language (as a refused download elsewhere does).
        raise BadRequest(exc.message) from None
    if isinstance(built, int):  # a big ledger: the worker builds it, the inbox offers it
        messages.info(request, _("台账共 %(rows)s 条，正在后台生成；生成后将通过站内消息提供下载链接。")
                      % {"rows": built})
        query = request.GET.urlencode()
        return redirect(reverse("ui:case_list") + (f"?{query}" if query else ""))
    body, filename = built
    return file_response(body, filename, XLSX_TYPE)


@require_safe
@login_required
def case_ledger_file(request, token: str):
    """A ledger the worker built (`ledger_files`): for the user who asked for it, within its time."""
    try:
        body, filename = ledger_files.ready_file(request.user, token)
    except NotFound:
        raise Http404("未找到该台账文件，或已过期") from None
    return file_response(body, filename, XLSX_TYPE)


@require_safe
@login_required
def case_file(request, number: str):
    """案卷 (PDF) of one case in the user's scope (404 outside it); audited."""
    try:
        body, filename = casefile.export(request.user, number[:20], request)
    except PermissionDenied:  # a reporter without case files follows their report by its link
        raise DjangoPermissionDenied from None
    except NotFound:
        raise Http404("未找到该事件，或不在您的权限范围内") from None
    return file_response(body, filename, PDF_TYPE)


urlpatterns = [
    path("cases/ledger.xlsx", case_ledger, name="case_ledger"),
    path("cases/ledger/<str:token>.xlsx", case_ledger_file, name="case_ledger_file"),
    path("cases/<str:number>.pdf", case_file, name="case_file_pdf"),
]

data_endpoint("ui:case_ledger", "cases.Case", "export")
# A built ledger is its requester's own file (the token names it, the request file names its owner): the build
# read the requester's scope and was audited as `case_ledger` is.
non_data_endpoint("ui:case_ledger_file")
data_endpoint("ui:case_file_pdf", "cases.Case", "detail", lookup="number", lookup_field="number")
