"""Import/export API: upload a table (queued, all-or-nothing), follow its job, fetch its error report, export.

Mounted by `config/api.py` under `/api/v1/` like the other routers (`router`, `PREFIX`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from ..access.endpoints import data_endpoint, non_data_endpoint
from ..core.api_errors import errors
from ..core.downloads import file_response
from ..core.errors import ValidationFailed
from ..core.pagination import Limit, Offset, page
from . import registry, services
from .models import ImportJob

router = Router(tags=["imports"])
PREFIX = "/"


class JobOut(Schema):
    id: int
    table: str
    file_name: str
    status: str
    dry_run: bool
    total_rows: int | None
    processed_rows: int
    applied_rows: int
    error_count: int
    percent: int
    message: str
    errors: list[dict]  # the first 100: {"row", "column", "message"}
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_errors(obj: ImportJob) -> list[dict]:
        return [{"row": r, "column": c, "message": m} for r, c, m in obj.errors[:100]]


class JobList(Schema):
    items: list[JobOut]
    count: int
    total: int


@router.post("/imports", response={202: JobOut, **errors(400, 401, 403, 422)}, url_name="import_create")
def create_import(request, table: Form[str], file: File[UploadedFile], dry_run: Form[bool] = False):
    """Upload a CSV/XLSX (Chinese headers) for `table`; it is checked at once for type, encoding and header,
    then validated row by row in the background and applied only if every row is valid."""
    if file.size and file.size > settings.CIVICGRID_MAX_IMPORT_BYTES:
        raise ValidationFailed("文件过大 / file too large", field="file")
    job = services.create_job(actor=request.user, table=table, file_name=file.name or "", data=file.read(), dry_run=dry_run)
    services.enqueue(job)
    job.refresh_from_db()
    return Status(202, job)


@router.get("/imports", response={200: JobList, **errors(401, 422)}, url_name="import_job_list")
def list_imports(request, limit: Limit = 20, offset: Offset = 0):
    """Import jobs you started or that were made within your import scope, newest first."""
    items, total = page(ImportJob.objects.visible_to(request.user).defer("errors"), limit=limit, offset=offset)
    for item in items:
        item.errors = []
    return {"items": items, "count": len(items), "total": total}


@router.get("/imports/{job_id}", response={200: JobOut, **errors(401, 404, 422)}, url_name="import_job_detail")
def get_import(request, job_id: int):
    """One import job with its progress counters and the first errors."""
    return services.visible_job(request.user, job_id)


@router.get("/imports/{job_id}/report", url_name="import_job_report", response={200: None, **errors(401, 404, 422)})
def import_report(request, job_id: int, format: Literal["xlsx", "csv"] = "xlsx"):  # noqa: A002 - the query name
    """The row-by-row error report: the file's columns plus 错误行/错误字段/错误说明."""
    job = services.visible_job(request.user, job_id)
    body, filename, content_type = services.error_report(job, format, actor=request.user)
    return file_response(body, filename, content_type)


def _export_route(key: str):
    def export(request, region: str = "", format: Literal["xlsx", "csv"] = "xlsx", clear: bool = False):  # noqa: A002
        body, filename, content_type, _ = services.export_table(
            actor=request.user, table=key, region=region, fmt=format, clear=clear
        )
        return file_response(body, filename, content_type)

    export.__name__ = f"export_{key}"
    return export


for _table in registry.all_types():
    router.get(
        f"/exports/{_table.key}s",
        url_name=f"export_{_table.key}",
        response={200: None, **errors(400, 401, 403, 422)},
        summary=f"Export {_table.key}s ({_table.label})",
        description="Scoped export with Chinese headers; personal numbers masked unless `clear=true` is asked for "
        "and your role may reveal them in that region (audited).",
    )(_export_route(_table.key))
    data_endpoint(f"api:export_{_table.key}", _table.model._meta.label, "export")

data_endpoint("api:import_job_list", "imports.ImportJob", "list")
data_endpoint("api:import_job_detail", "imports.ImportJob", "detail", lookup="job_id")
data_endpoint("api:import_job_report", "imports.ImportJob", "export", lookup="job_id")
non_data_endpoint("api:import_create")
