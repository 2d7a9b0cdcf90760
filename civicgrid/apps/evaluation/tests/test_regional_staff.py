"""Street and community staff see the evaluation of their own region (DOMAIN §4 evaluates streets and
communities): its street or community, grids and grid workers, page and xlsx, over their region's cases only;
the district's tables (departments, the command centre's staff) stay with the command centre and leaders."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from civicgrid.apps.evaluation import selectors
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

from .conftest import GRIDS, closed_case

pytestmark = pytest.mark.django_db


def _rows(client, subject: str) -> set[str]:
    page = client.get("/evaluation/", {"subject": subject, "month": "2026-05"})
    assert page.status_code == 200, subject
    return set(re.findall(r'<tr data-subject="([^"]+)"', page.content.decode()))


def _sheet(client, subject: str) -> list[tuple]:
    response = client.get("/evaluation/export.xlsx", {"subject": subject, "month": "2026-05"})
    assert response.status_code == 200, subject
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


@pytest.fixture
def cases(district):
    for grid in range(len(GRIDS)):  # three grids of street 140213050, one of 140213051
        closed_case(district, grid, reporter=district.worker if grid < 3 else district.worker2)


def test_street_staff_see_their_streets_tables_only(district, cases, client):
    street = user_with(Role.STREET_STAFF, region=district.tree["140213050"], username="jd")
    client.force_login(street)
    page = client.get("/evaluation/", {"month": "2026-05"})
    assert page.status_code == 200 and "subject=department" not in page.content.decode()  # their tabs only
    assert _rows(client, "community") == {"140213050001", "140213050002"}  # not the other street's
    assert _rows(client, "street") == {"140213050"}
    assert _rows(client, "grid") == set(GRIDS[:3])
    # every grid of the street, the one without a case too (无数据), none of the other street
    assert {r[2] for r in _sheet(client, "grid")[1:]} == {*GRIDS[:3], "140213050002002"}
    assert {r[2] for r in _sheet(client, "grid_worker")[1:]} == {"wg1"}
    assert AuditEntry.objects.filter(action="data.exported", actor=street).count() == 2
    # the district's tables are not theirs: refused, nothing exported or recorded
    for subject in ("department", "dispatcher", "intake", "shift_lead"):
        assert client.get("/evaluation/", {"subject": subject, "month": "2026-05"}).status_code == 403
        assert client.get("/evaluation/export.xlsx", {"subject": subject, "month": "2026-05"}).status_code == 403
    assert AuditEntry.objects.filter(action="data.exported", actor=street).count() == 2


def test_community_staff_see_their_community_its_grids_and_workers(district, cases, client):
    community = user_with(Role.COMMUNITY_STAFF, region=district.tree["140213050001"], username="sq")
    assert selectors.subjects_for(community) == ["community", "grid", "grid_worker"]
    client.force_login(community)
    assert _rows(client, "community") == {"140213050001"}
    assert _rows(client, "grid") == set(GRIDS[:2])
    assert {r[2] for r in _sheet(client, "community")[1:]} == {"140213050001"}
    refused = client.get("/evaluation/", {"subject": "street", "month": "2026-05"})
    # The 403 says which tables are theirs, not "ask the administrator" (no administrator can grant another street)
    assert refused.status_code == 403 and "您只能查看本辖区的街道、社区、网格和监督员评价" in refused.content.decode()


def test_the_loops_evaluators_keep_every_table(district, cases, client):
    assert selectors.subjects_for(district.leader) == list(selectors.SUBJECTS)
    assert selectors.subjects_for(district.dispatcher) == list(selectors.SUBJECTS)
    assert selectors.subjects_for(district.street_dispatcher) == []
    client.force_login(district.leader)
    assert _rows(client, "street") == {"140213050", "140213051"}
