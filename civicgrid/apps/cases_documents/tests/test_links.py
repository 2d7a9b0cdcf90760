"""The case pages link to the downloads: the ledger (with the list's filters) for those who may export, the case
file PDF on every case page; following the links gives the files."""

from __future__ import annotations

import html
import io
import re

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from civicgrid.apps.cases.services import submit_case
from civicgrid.foundation.access.roles import Role
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


def _link(page: str, kind: str) -> str | None:
    found = re.search(rf'href="([^"]+)" download data-download="{kind}"', page)
    return html.unescape(found.group(1)) if found else None


def test_download_links_follow_the_filters_and_the_capability(client, tree):
    dispatcher = user_with(Role.COMMAND_DISPATCHER, region=tree["140213"], username="cd")
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"], username="wg")
    first = submit_case(actor=worker, title="井盖缺失", lng=113.21, lat=40.01, source="grid_worker")[0]
    submit_case(actor=worker, title="占道经营", lng=113.21, lat=40.01, source="grid_worker")
    client.force_login(dispatcher)
    page = client.get("/cases/", {"q": "井盖", "status": "reported", "page": "1"}).content.decode()
    ledger = _link(page, "ledger")
    assert ledger.startswith("/documents/cases/ledger.xlsx?") and "page=" not in ledger and "status=reported" in ledger
    rows = list(load_workbook(io.BytesIO(client.get(ledger).content)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [first.number]
    detail = client.get(f"/cases/{first.number}/").content.decode()
    pdf = client.get(_link(detail, "case-file"))
    assert pdf.status_code == 200 and PdfReader(io.BytesIO(pdf.content)).pages
    one = list(load_workbook(io.BytesIO(client.get(_link(detail, "ledger")).content)).active.iter_rows(values_only=True))
    assert [r[0] for r in one[1:]] == [first.number]
    # a grid worker may not export the ledger: no link; the case file of their own case they may download
    client.force_login(worker)
    assert _link(client.get("/cases/").content.decode(), "ledger") is None
    detail = client.get(f"/cases/{first.number}/").content.decode()
    assert _link(detail, "ledger") is None
    assert client.get(_link(detail, "case-file")).status_code == 200
