"""Import and export pages: upload a table, follow its job (htmx-polled progress), download the error report,
export a table within scope, download an empty template.

The pages only parse input and call `imports.services`; capability, scope, validation and audit live there.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_safe

from civicgrid.foundation.access.endpoints import data_endpoint, non_data_endpoint
from civicgrid.foundation.access.scope import has_capability, scope_for
from civicgrid.foundation.core.downloads import XLSX_TYPE, file_response
from civicgrid.foundation.core.errors import CivicgridError
from civicgrid.foundation.imports import registry, services
from civicgrid.foundation.imports.models import ImportJob
from civicgrid.ui.language import one_language
from civicgrid.ui.navigation import MenuItem, register

from .common import region_choices


def _may_use(user) -> bool:
    return has_capability(user, "people.import") or has_capability(user, "people.export")


def _home_context(request, **extra) -> dict:
    user = request.user
    can_import = has_capability(user, "people.import")
    return {
        "tables": registry.all_types(),
        "can_import": can_import,
        "can_export": has_capability(user, "people.export"),
        "can_export_clear": not scope_for(user, "people.reveal").empty,
        "jobs": ImportJob.objects.visible_to(user).defer("errors")[:20] if can_import else [],
        "regions": region_choices(user, "people.export"),
        "max_mb": settings.CIVICGRID_MAX_IMPORT_BYTES // (1024 * 1024),
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def imports_home(request):
    """Upload form, recent jobs, export form and templates. POST uploads and queues a job."""
    if not _may_use(request.user):
        raise PermissionDenied
    if request.method == "GET":
        return render(request, "imports/home.html", _home_context(request))
    upload = request.FILES.get("file")
    table = request.POST.get("table", "")
    if upload is None:
        context = _home_context(request, error=one_language("请选择要上传的文件 / choose a file"), chosen=table)
        return render(request, "imports/home.html", context, status=400)
    if upload.size > settings.CIVICGRID_MAX_IMPORT_BYTES:
        limit = settings.CIVICGRID_MAX_IMPORT_BYTES // (1024 * 1024)
        context = _home_context(request, error=one_language(f"文件过大（上限 {limit} MB） / file too large (at most {limit} MB)"),
                                chosen=table)
        return render(request, "imports/home.html", context, status=400)
    try:
        job = services.create_job(
            actor=request.user,
            table=table,
            file_name=upload.name or "",
            data=upload.read(),
            dry_run=request.POST.get("dry_run") == "on",
        )
    except CivicgridError as exc:
        status = 403 if exc.status == 403 else 400
        return render(request, "imports/home.html", _home_context(request, error=one_language(exc.message), chosen=table), status=status)
    services.enqueue(job)
    return redirect("ui:import_job", job_id=job.pk)


@login_required
@require_safe
def import_job(request, job_id: int):
    """One job: its progress (polled while it runs), its result and its first errors."""
    job = _job(request, job_id)
    return render(request, "imports/job.html", {"job": job, "table": registry.get(job.table)})


@login_required
@require_safe
def import_progress(request, job_id: int):
    """The progress fragment the job page polls with htmx; it stops polling once the job has finished."""
    job = _job(request, job_id)
    return render(request, "imports/partials/progress.html", {"job": job})


@login_required
@require_safe
def import_report(request, job_id: int):
    """The row-by-row error report (XLSX, or CSV with ?format=csv)."""
    job = _job(request, job_id)
    fmt = "csv" if request.GET.get("format") == "csv" else "xlsx"
    body, filename, content_type = services.error_report(job, fmt, actor=request.user)
    return file_response(body, filename, content_type)


def _job(request, job_id: int) -> ImportJob:
    try:
        return services.visible_job(request.user, job_id)
    except CivicgridError:
        raise Http404 from None


@login_required
@require_safe
def import_template(request, table: str):
    """An empty XLSX with the table's Chinese headers."""
    if not _may_use(request.user):
        raise PermissionDenied
    try:
        body, filename = services.template_file(table)
    except CivicgridError:
        raise Http404 from None
    return file_response(body, filename, XLSX_TYPE)


def _export_view(key: str):
    @login_required
    @require_safe
    def export(request):
        try:
            body, filename, content_type, _ = services.export_table(
                actor=request.user,
                table=key,
                region=request.GET.get("region", ""),
                fmt="csv" if request.GET.get("format") == "csv" else "xlsx",
                clear=request.GET.get("clear") == "on",
            )
        except CivicgridError as exc:
            if exc.status == 403:
                raise PermissionDenied(exc.message) from None
            return HttpResponse(one_language(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
        return file_response(body, filename, content_type)

    export.__name__ = f"export_{key}"
    return export


urlpatterns = [
    path("", imports_home, name="imports_home"),
    path("jobs/<int:job_id>/", import_job, name="import_job"),
    path("jobs/<int:job_id>/progress/", import_progress, name="import_progress"),
    path("jobs/<int:job_id>/report/", import_report, name="import_report"),
    path("templates/<str:table>.xlsx", import_template, name="import_template"),
]
for _table in registry.all_types():
    urlpatterns.append(path(f"export/{_table.key}s/", _export_view(_table.key), name=f"export_{_table.key}"))
    data_endpoint(f"ui:export_{_table.key}", _table.model._meta.label, "export")

data_endpoint("ui:import_job", "imports.ImportJob", "detail", lookup="job_id")
data_endpoint("ui:import_progress", "imports.ImportJob", "detail", lookup="job_id")
data_endpoint("ui:import_report", "imports.ImportJob", "export", lookup="job_id")
data_endpoint("ui:imports_home", "imports.ImportJob", "list")
non_data_endpoint("ui:import_template")

register(MenuItem("imports", "导入导出", "ui:imports_home", "people.export", order=80))
