"""QR codes for reporters' follow links (查询与评价二维码), drawn offline with segno (pure Python).

The same symbol is served as SVG (pages) or PNG (the case file PDF, printing): error correction level M, never
a Micro QR, so any phone camera reads it. A link is made absolute with `CIVICGRID_PUBLIC_BASE_URL` when it is
set (what SMS and email carry too), else from the request that asks for it.
"""

from __future__ import annotations

import io

import segno

from civicgrid.apps.cases.recipients import follow_url

ERROR = "m"
BORDER = 4  # the quiet zone the standard asks for, in modules
SVG_SCALE = 4
PNG_SCALE = 8


def follow_link(token: str, request=None) -> str:
    """The absolute address of a reporter's follow page."""
    url = follow_url(token)
    if "://" not in url and request is not None:
        url = request.build_absolute_uri(url)
    return url


def make(content: str) -> segno.QRCode:
    return segno.make(content, error=ERROR, micro=False)


def svg(content: str, *, title: str = "") -> bytes:
    """A standalone SVG document of the QR code for `content`."""
    buffer = io.BytesIO()
    make(content).save(buffer, kind="svg", scale=SVG_SCALE, border=BORDER, xmldecl=True, title=title or None,
                       dark="#000", light="#fff")
    return buffer.getvalue()


def png(content: str, *, scale: int = PNG_SCALE) -> bytes:
    """A PNG of the QR code for `content` (black on white, `scale` pixels a module)."""
    buffer = io.BytesIO()
    make(content).save(buffer, kind="png", scale=scale, border=BORDER)
    return buffer.getvalue()
