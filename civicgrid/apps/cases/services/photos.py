"""Photos added to a case outside a transition (a second picture from the reporter, the department's photos)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from civicgrid.foundation.core.errors import Conflict, PermissionDenied, ValidationFailed
from civicgrid.foundation.core.text import refuse_nul

from ..models import FINAL_STATUSES, Case
from ..workflow import _is_case_department
from .common import add_step, attach_all, ensure_visible, lock, publish, read_photos, record
from .intake import is_public_only

# Who may add photos to a case they see: its reporter, or staff whose grant for one of these reaches it.
PHOTO_CAPABILITIES = ("intake", "check", "verify", "dispatch")


def _may_add(actor, case: Case) -> bool:
    if case.reporter_id and case.reporter_id == getattr(actor, "pk", None):
        return True
    if _is_case_department(case, actor):
        return True
    return any(Case.objects.visible_to(actor, action).filter(pk=case.pk).exists() for action in PHOTO_CAPABILITIES)


def add_photos(*, actor, case: Case, photos, kind: str = "photo", note: str = "") -> list:
    """Check the photos by content and attach them to an open case, with a timeline step; returns the rows.
    The step records whether a member of the public added them (`by_public`: an account with only the resident or
    volunteer role), so that the timeline says who wrote its note (`CaseStep.written_by_public`): the reporter may be
    staff."""
    refuse_nul(note, "note", "说明")
    refuse_nul(kind, "kind", "照片类型")
    checked = read_photos(photos, kind)
    if not checked:
        raise ValidationFailed("请至少上传一张照片 / at least one photo is required", field="photos")
    with transaction.atomic():
        case = lock(case)
        ensure_visible(actor, case)
        if not _may_add(actor, case):
            raise PermissionDenied("您无权为该事件添加照片 / you may not add photos to this case")
        if case.status in FINAL_STATUSES:
            raise Conflict("已办结或已关闭的案卷不能再添加照片 / the case is closed")
        now = timezone.now()
        step = add_step(case, action="add_photos", actor=actor, at=now, note=str(note or "")[:1000],
                        data={"photos": len(checked), "kind": kind, "by_public": is_public_only(actor)},
                        department=case.department)
        rows = attach_all(case, checked, step=step, actor=actor)
        record(case, actor=actor, action="add_photos", before=None,
               data={"step": step.pk, "attachments": [a.pk for a in rows]})
        publish(case, "photos_added", step_id=step.pk, count=len(rows))
    return rows
