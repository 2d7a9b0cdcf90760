"""Boundary import page: upload a GeoJSON of real boundaries, see every problem with its region code.

The page is a thin wrapper over `regions.importers.import_boundaries` (the same service as the command and
the loaders): a dry run checks only; a real run applies all-or-nothing.
"""

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_http_methods

from civicgrid.foundation.access.endpoints import non_data_endpoint
from civicgrid.foundation.core.errors import PermissionDenied as CivicgridPermissionDenied
from civicgrid.foundation.regions.importers import import_boundaries
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import capability_required

MAX_BYTES = 50 * 1024 * 1024


@require_http_methods(["GET", "POST"])
@capability_required("regions.import")
def boundary_import(request):
    """Form and report. Problems are listed by region code, kind and message; nothing is applied if any."""
    report = None
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "请选择要导入的 GeoJSON 文件 / choose a GeoJSON file"
        elif upload.size > MAX_BYTES:
            error = "文件过大（上限 50 MB） / file too large (limit 50 MB)"
        else:
            try:
                report = import_boundaries(
                    actor=request.user,
                    data=upload.read(),
                    filename=upload.name,
                    level=request.POST.get("level") or None,
                    dry_run=bool(request.POST.get("dry_run")),
                )
            except CivicgridPermissionDenied as exc:
                error = one_language(exc.message)
    status = 400 if error or (report is not None and not report.ok) else 200
    return render(request, "regions/boundary_import.html", {"report": report, "error": error}, status=status)


urlpatterns = [path("import/", boundary_import, name="boundary_import")]

# The report names region codes and problems only; the regions themselves are read through their own pages.
non_data_endpoint("ui:boundary_import")
register(MenuItem("boundaries", "边界导入", "ui:boundary_import", "regions.import", order=25))
