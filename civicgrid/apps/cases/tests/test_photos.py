"""Photos: images by content only, size-limited, GPS read then stripped, stored outside the web root and served
only through the scoped view with safe headers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from civicgrid.apps.cases.models import Attachment
from civicgrid.apps.cases.photos import read_photo
from civicgrid.foundation.core.errors import ValidationFailed

from .conftest import POINT, auth, jpeg, report, world_counts

pytestmark = pytest.mark.django_db


def _upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_exif_gps_is_read_then_every_metadata_block_is_stripped(loop):
    case = report(loop, lng=None, lat=None, photos=[jpeg(gps=POINT)])
    attachment = case.attachments.get()
    assert abs(attachment.exif_lng - POINT[0]) < 1e-4 and abs(attachment.exif_lat - POINT[1]) < 1e-4
    stored = Path(settings.MEDIA_ROOT) / attachment.path
    assert attachment.path.startswith("cases/") and attachment.path.endswith(f"{attachment.sha256}.jpg")
    data = stored.read_bytes()
    assert b"Exif" not in data and b"TestCam" not in data
    with Image.open(stored) as img:
        assert img.format == "JPEG" and not img.getexif() and "icc_profile" not in img.info
    # uploads never land in the static/web root
    assert Path(settings.STATIC_ROOT) not in stored.parents


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted_and_stored_as_jpeg(fmt):
    photo = read_photo(jpeg(fmt=fmt))
    assert photo.source_format == fmt
    with Image.open(io.BytesIO(photo.data)) as img:
        assert img.format == "JPEG" and img.mode == "RGB"


@pytest.mark.parametrize("data", [b"this is plain text, not a picture\n" * 10,
                                  b"GIF89a" + b"\x00" * 64,
                                  jpeg()[:60]])
def test_anything_that_is_not_a_jpeg_png_or_webp_by_content_is_refused(loop, data):
    before = world_counts()
    with pytest.raises(ValidationFailed, match="不是 JPEG、PNG 或 WebP"):
        report(loop, photos=[_upload("photo.jpg", data)])
    assert world_counts() == before


def test_a_gif_is_refused_even_when_it_is_a_real_image():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "GIF")
    with pytest.raises(ValidationFailed):
        read_photo(buf.getvalue())


@override_settings(CIVICGRID_MAX_PHOTO_BYTES=2000)
def test_a_photo_over_the_size_limit_is_refused(loop):
    noisy = Image.effect_noise((300, 300), 80).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, "JPEG", quality=95)
    before = world_counts()
    with pytest.raises(ValidationFailed, match="照片过大"):
        report(loop, photos=[buf.getvalue()])
    with pytest.raises(ValidationFailed, match="照片过大"):
        report(loop, photos=[_upload("x.jpg", buf.getvalue())])
    assert world_counts() == before


def test_multipart_upload_adds_photos_and_refuses_text_named_jpg(loop, api_client):
    case = report(loop)
    headers = auth(loop.worker)
    ok = api_client.post(f"/api/v1/cases/{case.number}/photos",
                         {"photos": [_upload("a.jpg", jpeg()), _upload("b.png", jpeg(fmt="PNG"), "image/png")],
                          "kind": "photo", "note": "补充照片"}, **headers)
    assert ok.status_code == 201, ok.content
    assert len(ok.json()["attachments"]) == 2 and ok.json()["timeline"][-1]["action"] == "add_photos"
    before = world_counts()
    bad = api_client.post(f"/api/v1/cases/{case.number}/photos", {"photos": [_upload("evil.jpg", b"<?php echo 1;")]},
                          **headers)
    assert bad.status_code == 400 and "JPEG" in bad.json()["detail"]
    assert world_counts() == before
    # a handler of another department does not see the case at all
    hidden = api_client.post(f"/api/v1/cases/{case.number}/photos", {"photos": [_upload("a.jpg", jpeg())]},
                             **auth(loop.other_handler))
    assert hidden.status_code == 404
    assert world_counts() == before


def test_attachments_are_served_only_in_scope_with_safe_headers(loop, api_client):
    case = report(loop, photos=[jpeg()])
    other = report(loop, photos=[jpeg(color=(0, 0, 255))])
    attachment = case.attachments.get()
    url = f"/api/v1/cases/{case.number}/attachments/{attachment.pk}"
    ok = api_client.get(url, **auth(loop.worker))
    assert ok.status_code == 200
    assert ok["Content-Type"] == "image/jpeg" and ok["X-Content-Type-Options"] == "nosniff"
    name = f"{case.number}-{attachment.pk}.jpg"
    assert ok["Content-Disposition"] == f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert ok["Cache-Control"] == "private, max-age=3600" and ok["Content-Security-Policy"] == "default-src 'none'"
    assert b"".join(ok.streaming_content)[:3] == b"\xff\xd8\xff"
    # another street's dispatcher: 404, exactly like a missing attachment
    assert api_client.get(url, **auth(loop.other_street_dispatcher)).status_code == 404
    missing = api_client.get(f"/api/v1/cases/{case.number}/attachments/999999", **auth(loop.worker))
    assert missing.status_code == 404
    # an attachment of another case is not reachable through this case's URL
    foreign = other.attachments.get()
    assert api_client.get(f"/api/v1/cases/{case.number}/attachments/{foreign.pk}",
                          **auth(loop.worker)).status_code == 404
    assert api_client.get(url).status_code == 401
    assert Attachment.objects.count() == 2
