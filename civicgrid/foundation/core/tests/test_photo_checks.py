"""The photo checks' refusals say what is wrong: a size just over the limit reads over it, and a picture with
more pixels than Pillow's own ceiling is refused for its pixels, not as "not an image"."""

from __future__ import annotations

import struct
import zlib

import pytest
from django.test import override_settings

from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.core.photos import MAX_PIXELS, megabytes, read_bytes, read_photo

MB = 1048576


@pytest.mark.parametrize(("size", "limit", "shown"), [
    (10_486_551, 10 * MB, ("10.001", "10")),  # the tester's file: 10.0008 MB
    (10 * MB + 1, 10 * MB, ("10.000001", "10")),  # one byte over still reads over
    (11 * MB, 10 * MB, ("11.0", "10")),  # well over: one decimal, as before
    (5 * MB, int(4.5 * MB), ("5.0", "4.5")),  # a limit that is not whole megabytes
])
def test_the_size_reads_over_the_limit(size, limit, shown):
    assert megabytes(size, limit) == shown
    assert float(shown[0]) > limit / MB


@override_settings(CIVICGRID_MAX_PHOTO_BYTES=10 * MB)
def test_a_file_just_over_ten_megabytes_is_refused_with_its_size_over_the_limit():
    with pytest.raises(ValidationFailed) as refused:
        read_bytes(b"\xff" * 10_486_551)
    assert refused.value.message == ("照片过大（10.001 MB），上限 10 MB / photo too large (10.001 MB; the limit is "
                                     "10 MB)")


def png(width: int, height: int) -> bytes:
    """A real greyscale PNG of `width` × `height` black pixels, compressed row by row (a few hundred KB)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pack = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte, then one byte a pixel
    data = b"".join(pack.compress(row) for _ in range(height)) + pack.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [
    8_000,  # 64 M pixels: over our ceiling, under Pillow's
    10_000,  # 100 M: over Pillow's warning (89 M)
    14_000,  # 196 M: over Pillow's error (179 M), the tester's file
])
def test_a_png_with_too_many_pixels_is_refused_for_its_pixels(side):
    assert side * side > MAX_PIXELS
    data = png(side, side)
    assert len(data) < 10 * MB
    with pytest.raises(ValidationFailed) as refused:
        read_photo(data)
    assert refused.value.message == "照片像素过多 / the image has too many pixels"


def test_a_file_that_is_no_image_is_still_refused_as_such():
    with pytest.raises(ValidationFailed) as refused:
        read_photo(b"%PDF-1.4 " + b"0" * 100)
    assert refused.value.message.startswith("文件不是 JPEG、PNG 或 WebP 图片")
