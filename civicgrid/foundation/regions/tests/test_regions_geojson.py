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


@pytest.fixture
def people_in_two_streets(tree):
    """A household of two in 永泰 grid 1 and one of three in 古城 grid 1."""
    from civicgrid.foundation.people.models import Household, Resident

    for code, size in (("140213050001001", 2), ("140213051001001", 3)):
        grid = tree[code]
        household = Household.objects.create(code=f"HH{code}", address="幸福路1号", grid=grid, region_code=code,
                                             size=size)
        for i in range(size):
            Resident.objects.create(name=f"居民{code}-{i}", grid=grid, region_code=code, household=household)


def _counts(body: dict) -> tuple:
    return body["grids"], body["households"], body["residents"]


def test_region_summary_counts_only_the_people_the_reader_may_view(tree, people_in_two_streets, as_user):
    """A region seen for context (the district above a grid worker's grid) is no licence to count its people."""
    worker = as_user(Role.GRID_WORKER, "140213050001001")
    assert _counts(worker("/api/v1/regions/140213/summary").json()) == (1, 1, 2)  # their own grid only
    assert _counts(worker("/api/v1/regions/140213050001001/summary").json()) == (1, 1, 2)
    street = as_user(Role.STREET_STAFF, "140213050")
    assert _counts(street("/api/v1/regions/140213/summary").json()) == (4, 1, 2)
    leader = as_user(Role.LEADER, "140213")
    assert _counts(leader("/api/v1/regions/140213/summary").json()) == (8, 2, 5)


def test_region_summary_gives_no_people_counts_without_people_view(tree, people_in_two_streets, as_user,
                                                                   api_client, token_for):
    from civicgrid.testing.builders import department

    volunteer = as_user(Role.VOLUNTEER, "140213050001001")
    body = volunteer("/api/v1/regions/140213/summary").json()
    assert body["households"] is None and body["residents"] is None
    handler = user_with(Role.DEPARTMENT_HANDLER, department=department())  # sees the whole region tree
    for code in ("140213", "140213051", "140213051001001"):
        body = api_client.get(f"/api/v1/regions/{code}/summary", **token_for(handler)).json()
        assert body["code"] == code and body["households"] is None and body["residents"] is None
