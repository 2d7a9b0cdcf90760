"""Background work for imports: long files run in the worker while the job page polls the counters."""

from __future__ import annotations

from django.tasks import task

from ..core import context


@task(queue_name="imports")
def run_import_task(job_id: int) -> dict:
    """Run one queued import job (validate, then apply all-or-nothing) and return its outcome."""
    from . import services
    from .models import ImportJob, JobStatus

    # Claim the job atomically: a second delivery of the same task finds it no longer queued and does nothing.
    claimed = ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(status=JobStatus.VALIDATING)
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if not claimed or job is None:
        return {"job": job_id, "status": getattr(job, "status", "missing")}
    with context.acting(channel="worker", request_id=job.request_id or None):
        services.run_import(job)
    return {"job": job.pk, "status": job.status, "rows": job.applied_rows, "errors": job.error_count}
