"""The follow link as a QR code: valid SVG and PNG images whose modules are exactly the symbol segno makes for the
page's address (nothing is decoded: the drawn matrix is compared with the one the URL encodes), shown on the
follow page, on the case page of the account that reported it, and in its case file PDF."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import segno
from PIL import Image
from pypdf import PdfReader

from civicgrid.apps.cases.models import CaseReporter
from civicgrid.apps.cases.services import submit_case
from civicgrid.apps.cases_documents import qr
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
IN_STREET = (113.21, 40.01)


@pytest.fixture
def reported(tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="wg")
    dispatcher = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd")
    case, _ = submit_case(actor=worker, title="井盖缺失", lng=IN_STREET[0], lat=IN_STREET[1], source="grid_worker")
    token = CaseReporter.objects.get(original_case=case).follow_token
    return {"worker": worker, "dispatcher": dispatcher, "case": case, "token": token}


def expected_matrix(url: str) -> list[list[bool]]:
    return [[bool(v) for v in row] for row in segno.make(url, error="m", micro=False).matrix]


def svg_matrix(body: bytes) -> list[list[bool]]:
    """The dark modules an SVG from segno draws: one path of horizontal runs (`h`) between moves (`M`/`m`)."""
    root = ET.fromstring(body)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    path = next(p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("stroke") == "#000")
    size = int(root.get("width")) // qr.SVG_SCALE - 2 * qr.BORDER
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for cmd, a, b in re.findall(r"([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?", path.get("d")):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:
            row = int(y) - qr.BORDER
            for col in range(int(x), int(x + float(a))):
                grid[row][col - qr.BORDER] = True
            x += float(a)
    return grid


def png_matrix(body: bytes, scale: int = qr.PNG_SCALE) -> list[list[bool]]:
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    image = image.convert("L")
    size = image.width // scale - 2 * qr.BORDER
    assert image.width == image.height
    return [[image.getpixel(((c + qr.BORDER) * scale + scale // 2, (r + qr.BORDER) * scale + scale // 2)) < 128
             for c in range(size)] for r in range(size)]


def test_the_follow_pages_qr_encodes_its_address(client, reported, settings):
    token = reported["token"]
    url = f"http://testserver/follow/{token}/"
    svg = client.get(f"/follow/{token}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert svg_matrix(svg.content) == expected_matrix(url)
    png = client.get(f"/follow/{token}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png_matrix(png.content) == expected_matrix(url)
    assert png_matrix(png.content) != expected_matrix(url + "x")  # the comparison tells links apart
    page = client.get(f"/follow/{token}/").content.decode()
    assert f'src="/follow/{token}/qr.svg"' in page and url in page
    # with a public base address the code carries that one, as SMS messages do
    settings.CIVICGRID_PUBLIC_BASE_URL = "https://grid.example.cn"
    again = client.get(f"/follow/{token}/qr.svg")
    assert svg_matrix(again.content) == expected_matrix(f"https://grid.example.cn/follow/{token}/")


def test_unknown_tokens_and_formats_are_not_found(client, reported):
    assert client.get(f"/follow/{'x' * 32}/qr.svg").status_code == 404
    assert client.get(f"/follow/{reported['token']}/qr.gif").status_code == 404


def test_the_reporters_case_page_and_case_file_carry_the_code_and_staff_do_not(client, reported):
    case, token = reported["case"], reported["token"]
    client.force_login(reported["worker"])
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert f"/follow/{token}/qr.svg" in page and f"/follow/{token}/qr.png" in page
    pdf = client.get(f"/documents/cases/{case.number}.pdf")
    assert pdf.status_code == 200
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "".join(p.extract_text() for p in reader.pages)
    assert "查询与评价二维码" in text and f"/follow/{token}/" in text.replace("\n", "")
    images = [img for p in reader.pages for img in p.images]
    assert any(png_matrix(_as_png(img.image), scale=6) == expected_matrix(f"http://testserver/follow/{token}/")
               for img in images)
    client.force_login(reported["dispatcher"])
    page = client.get(f"/cases/{case.number}/").content.decode()
    assert token not in page
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        client.get(f"/documents/cases/{case.number}.pdf").content)).pages)
    assert "二维码" not in text and token not in text


def _as_png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
