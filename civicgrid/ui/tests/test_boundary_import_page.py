"""The boundary import page: problems listed with their codes and nothing applied; a clean file applies."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.regions.models import Region
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db
PASSWORD = "Civic-Test-2026!"


def _square(x0, y0, size):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]}


def _rect(x0, y0, w, h):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h], [x0, y0]]]}


def _upload(features, name="grids.geojson"):
    body = {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"code": c}, "geometry": g} for c, g in features]}
    return SimpleUploadedFile(name, json.dumps(body).encode(), content_type="application/geo+json")


def _client(client, tree):
    staff = user_with(Role.STREET_STAFF, region=tree["140213050"])
    client.login(username=staff.username, password=PASSWORD)
    return client


def test_overlapping_grids_are_reported_by_code_and_nothing_changes(client, tree):
    c = _client(client, tree)
    before = Region.objects.get(code="140213050001001").geometry
    # Both grids of community 140213050001 (x 113.20–113.28, y 40.00–40.04), the first one widened onto the second.
    features = [("140213050001001", _square(113.20, 40.00, 0.03)), ("140213050001002", _square(113.22, 40.00, 0.02))]
    resp = c.post("/boundaries/import/", {"file": _upload(features), "level": "grid"})
    assert resp.status_code == 400
    html = resp.content.decode()
    assert 'data-report="problems"' in html and 'data-code="140213050001001"' in html
    assert "overlap" in html
    assert Region.objects.get(code="140213050001001").geometry == before


def test_not_a_geojson_file_is_a_clear_message(client, tree):
    c = _client(client, tree)
    resp = c.post("/boundaries/import/", {"file": SimpleUploadedFile("x.geojson", b"\x00\x01garbage")})
    assert resp.status_code == 400 and 'data-report="problems"' in resp.content.decode()


def test_clean_file_applies_and_clears_the_demo_mark(client, tree):
    c = _client(client, tree)
    # Two halves that tile community 140213050001 (113.20–113.24 × 40.00–40.04).
    features = [("140213050001001", _rect(113.20, 40.00, 0.02, 0.04)), ("140213050001002", _rect(113.22, 40.00, 0.02, 0.04))]
    resp = c.post("/boundaries/import/", {"file": _upload(features), "level": "grid"})
    assert resp.status_code == 200, resp.content.decode()[:2000]
    grid = Region.objects.get(code="140213050001001")
    assert grid.is_demo_geometry is False


def test_roles_without_the_capability_get_403(client, tree):
    worker = user_with(Role.GRID_WORKER, region=tree["140213050001001"])
    client.login(username=worker.username, password=PASSWORD)
    assert client.get("/boundaries/import/").status_code == 403
