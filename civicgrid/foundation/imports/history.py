"""What imports did to one row, for its history: created by a job, or a value changed by one.

An import writes one audit entry for the whole job (who, when, from where, how many rows), not one per row: a
district's population is over a million rows. The rows it creates carry the job's id (`import_job`), and the
values it changes on other rows (a household's 人数) are kept as `ImportedChange` rows; from either, a row's
history finds the job's audit entry and shows it as an entry of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models

from ..audit import verbs
from ..audit.models import AuditEntry
from .models import ImportedChange, ImportJob


@dataclass
class ImportedEntry:
    """One import's part in a row's history, shaped like an `AuditEntry` for the history view."""

    at: object
    actor_name: str
    action: str
    result: str
    channel: str
    source_ip: str
    import_job: int
    file_name: str
    created: bool  # the job created the row (else it changed `changes`)
    changes: list = field(default_factory=list)  # [(field, before, after)]
    data: dict | None = None


def entries_for(obj: models.Model) -> list[ImportedEntry]:
    """The imports that created or changed `obj` (the caller has already checked scope on it), newest first.
    Two queries at most, plus one for the jobs' audit entries."""
    created_by = getattr(obj, "import_job_id", None)
    changes = list(
        ImportedChange.objects.filter(target_type=obj._meta.label_lower, target_id=obj.pk)
        .order_by("job_id", "id")
        .values_list("job_id", "field", "before", "after")
    )
    jobs = {job for job, *_ in changes} | ({created_by} if created_by else set())
    if not jobs:
        return []
    recorded = {
        int(e.target_id): e
        for e in AuditEntry.objects.filter(
            target_type=ImportJob._meta.label_lower,
            target_id__in=[str(j) for j in jobs],
            action=verbs.Data.IMPORTED,
            result="ok",
        )
    }
    by_job: dict[int, list] = {}
    for job, name, before, after in changes:
        by_job.setdefault(job, []).append((name, before, after))
    out = []
    for job in sorted(jobs):
        entry = recorded.get(job)
        if entry is None:  # no applied import recorded (purged past its retention): nothing to show it by
            continue
        out.append(
            ImportedEntry(
                at=entry.at,
                actor_name=entry.actor_name,
                action=entry.action,
                result=entry.result,
                channel=entry.channel,
                source_ip=entry.source_ip,
                import_job=job,
                file_name=str((entry.data or {}).get("file", "")) if isinstance(entry.data, dict) else "",
                created=job == created_by,
                changes=by_job.get(job, []),
            )
        )
    return sorted(out, key=lambda e: e.at, reverse=True)
