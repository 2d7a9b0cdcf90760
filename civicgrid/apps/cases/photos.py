"""Case photos: checked and stored by the foundation's photo module, recorded here as `Attachment` rows.

`attach(...)` stores the bytes under `MEDIA_ROOT/cases/<yyyy>/<mm>/<sha256>.jpg` (outside the web root; served
only through the scoped attachment view) and records the row; the checking (`read_photo`, `decode_base64`, …) is
`civicgrid.foundation.core.photos`, re-exported here for the case services.
"""

from __future__ import annotations

from django.utils import timezone

from civicgrid.foundation.core.bilingual import quotable
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.core.photos import (  # noqa: F401  (re-exported for the case services and API)
    ACCEPTED_FORMATS,
    JPEG_QUALITY,
    MAX_PIXELS,
    MAX_SIDE,
    Photo,
    decode_base64,
    media_root,
    open_stored,
    read_bytes,
    read_photo,
    store,
)

from .models import Attachment

KINDS = ("photo", "before", "after", "progress", "verify")


def attach(*, case, photo: Photo, kind: str = "photo", step=None, uploaded_by=None) -> Attachment:
    """Store a checked photo and record it on the case (and step); call inside the action's transaction."""
    if kind not in KINDS:
        shown = quotable(kind, 16)
        raise ValidationFailed(f"照片类型无效：「{shown}」 / unknown photo kind \"{shown}\"", field="photos")
    now = timezone.localtime()
    relative = f"cases/{now:%Y}/{now:%m}/{photo.sha256}.jpg"
    store(relative, photo.data)
    user = uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None
    return Attachment.objects.create(
        case=case, step=step, kind=kind, path=relative, sha256=photo.sha256, content_type="image/jpeg",
        size=len(photo.data), width=photo.width, height=photo.height,
        exif_lng=photo.gps[0] if photo.gps else None, exif_lat=photo.gps[1] if photo.gps else None,
        uploaded_by=user,
    )


def open_attachment(attachment: Attachment):
    """The stored file of an attachment, opened for reading (the caller has checked scope on its case)."""
    return open_stored(attachment.path)
