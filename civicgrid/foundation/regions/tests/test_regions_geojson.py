"""Boundaries as GeoJSON through the API: one region, the grids of a subtree, the export; all scoped."""

from __future__ import annotations

import json

import pytest

from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.testing.builders import user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(tree, api_client, token_for):
    def make(role, code):
        headers = token_for(user_with(role, region=tree[code]))
        return lambda url, **params: api_client.get(url, params, **headers)

    return make


def _codes(resp) -> list[str]:
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("application/geo+json")
    body = json.loads(resp.content)
    assert body["type"] == "FeatureCollection"
    return [f["properties"]["code"] for f in body["features"]]


def test_grids_geojson_is_scoped_and_carries_the_demo_flag(as_user):
    street = as_user(Role.STREET_STAFF, "140213050")
    resp = street("/api/v1/grids.geojson")
    assert _codes(resp) == ["140213050001001", "140213050001002", "140213050002001", "140213050002002"]
    feature = json.loads(resp.content)["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["kind"] == "comprehensive" and feature["properties"]["is_demo_geometry"] is True
    assert feature["properties"]["name"] == "永泰社区1第1网格"
    assert _codes(street("/api/v1/grids.geojson", parent="140213050002")) == ["140213050002001", "140213050002002"]
    assert _codes(street("/api/v1/grids.geojson", parent="140213051")) == []
    worker = as_user(Role.GRID_WORKER, "140213051001002")
    assert _codes(worker("/api/v1/grids.geojson")) == ["140213051001002"]
    assert street("/api/v1/grids.geojson", parent="abc").status_code == 400


def test_region_feature_is_404_outside_scope(as_user):
    worker = as_user(Role.GRID_WORKER, "140213050001001")
    resp = worker("/api/v1/regions/140213050001001/geojson")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("application/geo+json")
    feature = json.loads(resp.content)
    assert feature["type"] == "Feature" and feature["properties"]["code"] == "140213050001001"
    assert feature["properties"]["parent_code"] == "140213050001"
    assert feature["bbox"] == pytest.approx([113.20, 40.00, 113.22, 40.02])
    # Ancestors are visible for context; a neighbour's grid is not.
    assert worker("/api/v1/regions/140213050/geojson").status_code == 200
    other = worker("/api/v1/regions/140213050001002/geojson")
    assert other.status_code == 404 and other.json()["detail"]


def test_export_is_scoped_filtered_and_audited(as_user):
    street = as_user(Role.STREET_STAFF, "140213051")
    resp = street("/api/v1/regions/export.geojson", level="grid")
    assert _codes(resp) == ["140213051001001", "140213051001002", "140213051002001", "140213051002002"]
    assert "attachment" in resp["Content-Disposition"]
    assert _codes(street("/api/v1/regions/export.geojson", parent="140213051001")) == [
        "140213051001", "140213051001001", "140213051001002"]
    assert AuditEntry.objects.filter(action="data.exported", target_type="regions.region").count() == 2
    assert street("/api/v1/regions/export.geojson", level="town").status_code == 422


def test_the_contract_list_still_answers(as_user):
    body = as_user(Role.LEADER, "140213")("/api/v1/regions", level="street", limit=1).json()
    assert body["count"] == 1 and body["items"][0]["parent_code"] == "140213"
    assert set(body["items"][0]) >= {"code", "name", "level", "parent_code"}


def test_nul_and_odd_input_never_becomes_a_server_error(as_user):
    leader = as_user(Role.LEADER, "140213")
    assert leader("/api/v1/regions/%00/geojson").status_code == 404
    assert leader("/api/v1/regions/%00").status_code == 404
    assert leader("/api/v1/regions", q="\x00社区", parent="\x00").status_code == 200
    assert leader("/api/v1/grids.geojson", parent="\x00").status_code == 400
    assert leader("/api/v1/regions/export.geojson", parent="1402130").status_code == 400


def test_region_summary_counts_households_residents_and_names_grid_workers(tree, as_user):
    from civicgrid.foundation.people.models import Household, Resident

    grid = tree["140213050001001"]
    household = Household.objects.create(code="HH1", address="幸福路1号", grid=grid, region_code=grid.code, size=2)
    for i in range(2):
        Resident.objects.create(name=f"居民{i}", grid=grid, region_code=grid.code, household=household)
    worker = user_with(Role.GRID_WORKER, region=grid, username="wg-1")
    worker.display_name = "王建国"
    worker.save()
    street = as_user(Role.STREET_STAFF, "140213050")
    body = street("/api/v1/regions/140213050001001/summary").json()
    assert body == {"code": grid.code, "name": grid.name, "level": "grid", "grids": 1, "households": 1,
                    "residents": 2, "grid_workers": ["王建国"]}
    whole = street("/api/v1/regions/140213050/summary").json()
    assert (whole["grids"], whole["residents"], whole["grid_workers"]) == (4, 2, [])
    assert street("/api/v1/regions/140213051/summary").status_code == 404
