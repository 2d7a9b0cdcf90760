"""Photos of hazards (at finding, before and after rectification, at the check): checked by content by the
foundation's photo module (format, size, EXIF stripped) and stored under the upload root."""

from __future__ import annotations

from django.utils import timezone

from civicgrid.foundation.core import photos as photo_reader
from civicgrid.foundation.core.errors import ValidationFailed

from ..models import HazardPhoto

STAGES = set(HazardPhoto.Stage.values)
MAX_PER_REQUEST = 9


def read_photos(items, default_stage: str) -> list[tuple[str, photo_reader.Photo]]:
    """Check every photo of a request by content before any transaction starts."""
    items = list(items or ())
    if len(items) > MAX_PER_REQUEST:
        raise ValidationFailed(f"一次最多上传 {MAX_PER_REQUEST} 张照片 / too many photos", field="photos")
    result = []
    for item in items:
        stage, source = item if isinstance(item, tuple) else (default_stage, item)
        if stage not in STAGES:
            raise ValidationFailed(f"照片阶段无效：{str(stage)[:16]} / unknown photo stage", field="photos")
        result.append((stage, source if isinstance(source, photo_reader.Photo) else photo_reader.read_photo(source)))
    return result


def attach_photos(hazard, photos, *, step=None, actor=None) -> list[HazardPhoto]:
    """Store checked photos and record them on the hazard (inside the action's transaction)."""
    now = timezone.localtime()
    user = actor if getattr(actor, "is_authenticated", False) else None
    stored = []
    for stage, photo in photos:
        relative = f"hazards/{now:%Y}/{now:%m}/{photo.sha256}.jpg"
        photo_reader.store(relative, photo.data)
        stored.append(HazardPhoto.objects.create(
            hazard=hazard, step=step, stage=stage, path=relative, sha256=photo.sha256, content_type="image/jpeg",
            size=len(photo.data), uploaded_by=user,
        ))
    return stored
