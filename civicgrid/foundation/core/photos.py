"""Photos as evidence (cases, hazards, checklists): checked by content, size-limited, GPS read from EXIF,
re-encoded without any metadata, stored content-addressed under the upload root.

`read_photo(data)` does the CPU work outside any transaction and returns a `Photo` (clean JPEG bytes plus what
was learnt); `store(relative, data)` writes the bytes atomically (temp file + rename) below `MEDIA_ROOT`, outside
the web root. Each app records its own rows (cases `Attachment`, hazards `HazardPhoto`) and serves files only
through its scoped views. Two uploads of the same photo share one file, and a write that rolls back leaves at
worst an unreferenced file, never a broken row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ValidationFailed


def max_photo_bytes() -> int:
    return int(getattr(settings, "CIVICGRID_MAX_PHOTO_BYTES", 10 * 1024 * 1024))


ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_PIXELS = 60_000_000  # beyond this a "photo" is a decompression bomb, not a phone picture
MAX_SIDE = 4096  # stored photos are scaled down to this on their long side
JPEG_QUALITY = 85
_GPS_IFD = 0x8825


@dataclass(frozen=True)
class Photo:
    """A checked, re-encoded photo ready to store."""

    data: bytes  # JPEG without metadata
    sha256: str
    width: int
    height: int
    source_format: str
    gps: tuple[float, float] | None  # (lng, lat) WGS-84 from EXIF, when the camera wrote it


MEBIBYTE = 1048576


def megabytes(size: int, limit: int) -> tuple[str, str]:
    """A size over `limit` and the limit, in MB as the messages show them: the limit as short as it is exact to
    two decimals (10, 10.5), the size with one decimal, or more where one would not show it over the limit: a
    file of 10,486,551 bytes is "10.001", not "10.0" against a limit of 10 MB. Six decimals tell even one byte
    over (`ui/civicgrid.js` `photoSizes` shows the phone's and the action forms' notes alike)."""
    limit_mb = limit / MEBIBYTE
    limit_text = f"{limit_mb:.2f}".rstrip("0").rstrip(".")
    for digits in range(1, 7):
        size_text = f"{size / MEBIBYTE:.{digits}f}"
        if float(size_text) > limit_mb:
            break
    return size_text, limit_text


def _too_large(size: int) -> ValidationFailed:
    shown, limit = megabytes(size, max_photo_bytes())
    return ValidationFailed(f"照片过大（{shown} MB），上限 {limit} MB / photo too large ({shown} MB; the limit is "
                            f"{limit} MB)", field="photos")


def read_bytes(source) -> bytes:
    """Bytes of an upload, a file-like object or bytes; never reads more than the limit + 1 byte."""
    limit = max_photo_bytes()
    size = getattr(source, "size", None)
    if isinstance(size, int) and size > limit:
        raise _too_large(size)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(limit + 1)
    else:
        raise ValidationFailed("照片格式无效 / a photo must be a file", field="photos")
    if len(data) > limit:
        raise _too_large(len(data))
    if not data:
        raise ValidationFailed("照片为空 / the photo is empty", field="photos")
    return data


def decode_base64(text: str) -> bytes:
    """A photo sent inside JSON as base64 (optionally a `data:image/...;base64,` URL)."""
    if not isinstance(text, str):
        raise ValidationFailed("照片须为 base64 文本 / photo must be base64 text", field="photos")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > max_photo_bytes() * 4 // 3 + 8:
        raise _too_large(len(text) * 3 // 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("照片 base64 编码无效 / photo is not valid base64", field="photos") from None


def _rational(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        num, den = value
        return float(num) / float(den)


def _gps(image: Image.Image) -> tuple[float, float] | None:
    """(lng, lat) from the EXIF GPS block, or None when absent or nonsensical."""
    try:
        gps = image.getexif().get_ifd(_GPS_IFD)
        if not gps or 2 not in gps or 4 not in gps:
            return None
        lat = sum(_rational(v) / 60**i for i, v in enumerate(gps[2]))
        lng = sum(_rational(v) / 60**i for i, v in enumerate(gps[4]))
        if str(gps.get(1, "N")).upper().startswith("S"):
            lat = -lat
        if str(gps.get(3, "E")).upper().startswith("W"):
            lng = -lng
    except Exception:  # malformed EXIF is common; it only means "no location from the photo"
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return lng, lat


def read_photo(source) -> Photo:
    """Check that `source` (bytes or a file) is a JPEG, PNG or WebP image by its content and re-encode it as a
    clean JPEG."""
    data = source if isinstance(source, bytes) else read_bytes(source)
    if len(data) > max_photo_bytes():
        raise _too_large(len(data))
    not_image = ValidationFailed("文件不是 JPEG、PNG 或 WebP 图片 / the file is not a JPEG, PNG or WebP image",
                                 field="photos")
    too_many = ValidationFailed("照片像素过多 / the image has too many pixels", field="photos")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in ACCEPTED_FORMATS:
                    raise not_image
                if probe.width * probe.height > MAX_PIXELS:
                    raise too_many
                probe.verify()  # structure check; the image must be opened again to decode it
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                gps = _gps(image)
                image = ImageOps.exif_transpose(image)  # keep the picture upright once orientation is gone
                if image.mode in ("RGBA", "LA", "P"):
                    image = image.convert("RGBA")
                    flat = Image.new("RGB", image.size, (255, 255, 255))
                    flat.paste(image, mask=image.getchannel("A"))
                    image = flat
                elif image.mode != "RGB":
                    image = image.convert("RGB")
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                out = io.BytesIO()
                # A new image carries no EXIF, XMP, ICC or comments: nothing but pixels is written.
                clean = Image.new("RGB", image.size)
                clean.paste(image)
                clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        except ValidationFailed:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            # Pillow's own ceiling (`Image.MAX_IMAGE_PIXELS`, about 89 million) is above MAX_PIXELS, and Image.open
            # applies it to the size the header declares, before the check above: a picture too big for either.
            raise too_many from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise not_image from None
    clean_bytes = out.getvalue()
    return Photo(clean_bytes, hashlib.sha256(clean_bytes).hexdigest(), clean.width, clean.height, fmt, gps)


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def store(relative: str, data: bytes) -> None:
    """Write checked bytes under the upload root at `relative`, atomically; an existing file is kept (content-
    addressed names: the same bytes)."""
    path = media_root() / relative
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_stored(relative: str):
    """A stored photo opened for reading (the caller has checked scope on its owner); a path that would leave
    the upload root or a missing file raises FileNotFoundError."""
    root = media_root().resolve()
    path = (root / relative).resolve()
    if root not in path.parents:  # a tampered path must never escape the upload root
        raise FileNotFoundError(relative)
    return path.open("rb")
