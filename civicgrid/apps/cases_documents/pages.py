"""Download pages: the case ledger (xlsx, with the case list's filters) and one case's file (PDF).

    /documents/cases/ledger.xlsx?status=open&region=140213050&date_from=2026-05-01&date_to=2026-05-31
    /documents/cases/<number>.pdf
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.urls import path
from django.views.decorators.http import require_GET

from civicgrid.apps.cases.selectors import filter_from_query
from civicgrid.foundation.access.endpoints import data_endpoint
from civicgrid.foundation.core.downloads import PDF_TYPE, XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import NotFound, PermissionDenied, ValidationFailed

from . import casefile, ledger


@require_GET
@login_required
def case_ledger(request):
    """事件台账 (xlsx): the cases of the user's export scope, with the case list's filters (read as the list reads
    them, `selectors.filter_from_query`, and refused as it refuses them); audited."""
    try:
        body, filename = ledger.export(request.user, filter_from_query(request.GET))
    except PermissionDenied:
        raise DjangoPermissionDenied from None
    except ValidationFailed as exc:
        # The site's 400 page says it in the reader's language (as a refused download elsewhere does).
        raise BadRequest(exc.message) from None
    return file_response(body, filename, XLSX_TYPE)


@require_GET
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
    path("cases/<str:number>.pdf", case_file, name="case_file_pdf"),
]

data_endpoint("ui:case_ledger", "cases.Case", "export")
data_endpoint("ui:case_file_pdf", "cases.Case", "detail", lookup="number", lookup_field="number")
