"""File responses: the one way a view answers with a file, saved (xlsx, csv, pdf, geojson) or shown (a photo).

    return file_response(body, "人员-全部-202605011200.xlsx", XLSX_TYPE)
    return inline_response(photo_files.open_stored(photo.path), f"{hazard.code}-{photo.pk}.jpg", "image/jpeg")

Content-Disposition carries the name twice (RFC 6266 section 4.3): `filename*=UTF-8''…` holds it exactly,
percent-encoded (RFC 5987 / 8187), and `filename="…"` holds an ASCII stand-in for the rare client that does not
read `filename*`. A Chinese name cannot go out as it is: a header value is Latin-1, so Django MIME-encodes the
whole value (`=?utf-8?b?…?=`, "attachment" included) and the browser loses the name.

Every download is also sent with `X-Content-Type-Options: nosniff` (a file is never rendered as a page),
`Content-Length`, and `Cache-Control: no-store`: exports hold data of the user's scope and each one is
audited, so neither the browser nor a proxy keeps a copy.

A file shown in the browser (`inline_response`: a photo in an <img> or a tab of its own) has the same
Content-Disposition with `inline`, nosniff, and `Content-Security-Policy: default-src 'none'` (opened as a
document it may run nothing); it is streamed from its open handle, and the browser may keep it privately for an
hour (`Cache-Control: private, max-age=3600`): a photo never changes, and a page shows the same ones again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

from django.http import FileResponse, HttpResponse

from .errors import CivicgridError

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"
JPEG_TYPE = "image/jpeg"
INLINE_CACHE = "private, max-age=3600"

DEFAULT_NAME = "download"
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 ()+,.=@_-]")  # what the ASCII stand-in keeps; `"`, `\`, `%`, `;` never
_RUNS = re.compile(r"_{2,}")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")


def clean_filename(filename: str) -> str:
    """The name with what no file name may hold replaced by "_": control and format characters (a newline,
    a right-to-left override) and path separators. Never empty."""
    name = filename.strip()
    return "".join("_" if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch for ch in name) or DEFAULT_NAME


def ascii_filename(filename: str) -> str:
    """An ASCII stand-in for the name: accents dropped (é → e), full-width forms folded (（ → (), any other
    character replaced by "_"; runs of "_" and separators left at either end of the stem are trimmed, so
    "事件台账-20260501.xlsx" becomes "20260501.xlsx" and "事件台账.xlsx" becomes "download.xlsx"."""
    decomposed = unicodedata.normalize("NFKD", clean_filename(filename))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _RUNS.sub("_", _NOT_PLAIN.sub("_", plain))
    stem, dot, extension = plain.rpartition(".")
    if not (dot and _EXTENSION.fullmatch(extension)):
        stem, dot, extension = plain, "", ""
    return f"{stem.strip('_-. ') or DEFAULT_NAME}{dot}{extension}"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment; filename="<ASCII stand-in>"; filename*=UTF-8''<the name, percent-encoded>` (Latin-1 safe),
    or the same with `inline` for a file the browser shows instead of saving."""
    exact = quote(clean_filename(filename), safe="")  # only RFC 5987 attr-chars stay as they are
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{exact}"


def file_response(body: bytes, filename: str, content_type: str) -> HttpResponse:
    """`body` as a download named `filename` (any language), with nosniff, no-store and its length."""
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename)
    response["Content-Length"] = str(len(response.content))
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def inline_response(handle, filename: str, content_type: str) -> FileResponse:
    """The open file `handle` shown in the browser as `filename` (any language), streamed and closed by Django,
    with nosniff, `default-src 'none'` and a private cache. The caller has checked scope on the file's owner."""
    response = FileResponse(handle, content_type=content_type)
    # FileResponse names the file after the handle (the stored path); the name given replaces it.
    response["Content-Disposition"] = content_disposition(filename, inline=True)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = INLINE_CACHE
    return response


def file_or_refusal(
    produce: Callable[[], tuple[bytes, str]],
    content_type: str,
    explain: Callable[[CivicgridError], str] = lambda exc: exc.message,
) -> HttpResponse:
    """For a page's download link: the file `produce()` returns as (body, filename), or, when the service
    refuses, `explain(error)` as plain text with the error's status (the browser shows it in place of a file)."""
    try:
        body, filename = produce()
    except CivicgridError as exc:
        return HttpResponse(explain(exc), status=exc.status, content_type="text/plain; charset=utf-8")
    return file_response(body, filename, content_type)
