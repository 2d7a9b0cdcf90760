"""The hazards demo on the real demo district (18 streets, demo grids): the 包保 table, exactly 67 flood points
across all 18 streets named to their 包保 departments, varied states through the loop, the safety campaign's
categories, idempotence. The district is loaded once for the module and rolled back at its end."""

from __future__ import annotations

import csv

import pytest
from django.db import transaction

from civicgrid.apps.hazards import demo
from civicgrid.apps.hazards.models import (
    SAFETY_CATEGORIES,
    Campaign,
    Hazard,
    HazardPlan,
    PatronAssignment,
    Rectification,
)
from civicgrid.demo import orgs as demo_orgs
from civicgrid.demo import regions as demo_regions
from civicgrid.foundation.audit.models import AuditEntry
from civicgrid.foundation.core.errors import ValidationFailed
from civicgrid.foundation.orgs.models import Organisation
from civicgrid.foundation.regions import selectors
from civicgrid.foundation.regions.models import Level, Region


@pytest.fixture(scope="module")
def district(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            demo_regions.load_demo_regions()
            demo_orgs.load_demo_orgs()
            selectors.invalidate_locator()
            # the campaigns demo (checklists for every grid, ~1,600 filled in) belongs to its own tests
            real, demo._campaigns_demo = demo._campaigns_demo, lambda: ""
            try:
                summary = demo.load_demo_hazards()
            finally:
                demo._campaigns_demo = real
            yield summary
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            selectors.invalidate_locator()


pytestmark = pytest.mark.django_db


def _baobao() -> dict[str, str]:
    with demo.BAOBAO_CSV.open(encoding="utf-8-sig") as fh:
        return {r["street_code"]: r["department"] for r in csv.DictReader(fh)}


def test_exactly_67_flood_points_over_all_18_streets(district):
    assert "防汛隐患点 67 个" in district and "覆盖 18 个街道" in district
    flood = Hazard.objects.filter(kind="flood")
    assert flood.count() == 67
    streets = set(Region.objects.filter(level=Level.STREET).values_list("code", flat=True))
    assert len(streets) == 18 and set(flood.values_list("street_code", flat=True)) == streets
    assert all(h.is_synthetic and "演示数据" in h.description for h in flood)
    assert {h.campaign.name for h in flood.select_related("campaign")} == {"2023 汛前隐患排查"}


def test_points_lie_in_their_grids_and_name_their_patron(district):
    table = _baobao()
    for h in Hazard.objects.filter(kind="flood").select_related("patron_department"):
        where = selectors.locate(h.lng, h.lat)
        assert where.grid.code == h.region_code and h.street_code == h.region_code[:9]
        assert table[h.street_code] in (h.patron_department.short_name, h.patron_department.name)
        assert h.owner_phone_masked and "*" in h.owner_phone_masked


def test_categories_weighted_and_states_varied(district):
    flood = Hazard.objects.filter(kind="flood")
    by_category = {c: flood.filter(category=c).count() for c in ("low_lying", "poor_drainage", "roof_leak")}
    assert sum(by_category.values()) > 67 / 2
    statuses = set(flood.values_list("status", flat=True))
    assert {"registered", "rectifying", "closed"} <= statuses
    majors = flood.filter(grade="major")
    assert majors.count() == 5 and all(h.is_supervised or h.status == "closed" for h in majors)
    for h in majors:
        assert HazardPlan.objects.filter(hazard=h, kind="governance").exists()
    rectifying = Rectification.objects.filter(hazard__kind="flood", hazard__status="rectifying")
    assert rectifying.exists() and all(r.measures and r.deadline and r.budget for r in rectifying)
    closed = Rectification.objects.filter(hazard__kind="flood", hazard__status="closed")
    assert closed.exists() and all(r.check_passed and r.checker and r.closed_on for r in closed)
    assert HazardPlan.objects.filter(hazard__kind="flood", hazard__short_term_fixable=False, kind="emergency").count() == 4


def test_patron_table_loaded(district):
    table = _baobao()
    rows = {a.street_code: a.department for a in PatronAssignment.objects.filter(kind="flood").select_related("department")}
    assert set(rows) == set(table) and len(rows) == 18
    assert {d.short_name for d in rows.values()} == {"区水务局", "区应急局", "区城管局", "区自然资源局"}
    assert AuditEntry.objects.filter(action="hazards.patrons_loaded").count() == 1


def test_safety_campaign_covers_each_category(district):
    campaign = Campaign.objects.get(name="安全生产大排查大整治大提升")
    cats = set(Hazard.objects.filter(campaign=campaign, kind="safety").values_list("category", flat=True))
    assert cats == {"hazchem", "construction", "self_built", "gas", "elderly_care", "fire"}
    assert cats <= {c for c, _ in SAFETY_CATEGORIES}


def test_second_run_creates_nothing_and_says_so(district, monkeypatch):
    monkeypatch.setattr(demo, "_campaigns_demo", lambda: "")
    counts = (Hazard.objects.count(), PatronAssignment.objects.count(), Campaign.objects.count(),
              HazardPlan.objects.count())
    assert demo.load_demo_hazards() == demo.UNCHANGED
    assert (Hazard.objects.count(), PatronAssignment.objects.count(), Campaign.objects.count(),
            HazardPlan.objects.count()) == counts


def test_list_contract_on_the_demo(district, api_client, token_for):
    from civicgrid.foundation.access.roles import Role
    from civicgrid.testing.builders import user_with

    centre = token_for(user_with(Role.COMMAND_DISPATCHER, region=Region.objects.get(code="140213")))
    body = api_client.get("/api/v1/hazards", {"kind": "flood", "limit": 5}, **centre).json()
    assert body["total"] == 67 and body["count"] == len(body["items"]) == 5
    table = _baobao()
    for street in ("140213050", "140213066"):
        page = api_client.get("/api/v1/hazards", {"kind": "flood", "street": street, "limit": 1000}, **centre).json()
        assert page["count"] == Hazard.objects.filter(kind="flood", street_code=street).count() >= 1
        assert {i["street_code"] for i in page["items"]} == {street}
        org = Organisation.objects.get(pk=page["items"][0]["patron_department_id"])
        assert table[street] == org.short_name and page["items"][0]["patron_department"] == org.name
    # the 包保 department of 永泰街道 (区城管局) sees its four streets' points, and no others
    handler = user_with(Role.DEPARTMENT_HANDLER, department=Organisation.objects.get(short_name="区城管局"))
    mine = api_client.get("/api/v1/hazards", {"kind": "flood", "limit": 1000}, **token_for(handler)).json()
    assert {i["street_code"] for i in mine["items"]} == {s for s, d in table.items() if d == "区城管局"}
    officer = user_with(Role.STREET_STAFF, region=Region.objects.get(code="140213051"))
    other = api_client.get("/api/v1/hazards", {"kind": "flood", "street": "140213050"}, **token_for(officer)).json()
    assert other == {"items": [], "count": 0, "total": 0}


def test_load_patrons_refuses_unknown_streets(district, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("department,street_name,street_code\n区水务局,某街道,140213999\n不存在局,古城街道,140213051\n",
                    encoding="utf-8")
    before = list(PatronAssignment.objects.values_list("street_code", "department_id"))
    with pytest.raises(ValidationFailed) as err:
        demo.load_patrons(path=path)
    assert "140213999" in err.value.message and "不存在局" in err.value.message
    assert list(PatronAssignment.objects.values_list("street_code", "department_id")) == before


def test_load_patrons_reassigns_from_the_table(district, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("department,street_name,street_code\n区应急局,永泰街道,140213050\n", encoding="utf-8")
    result = demo.load_patrons(path=path)
    assert result.updated == 1 and result.created == 0
    assert PatronAssignment.objects.get(street_code="140213050", kind="flood").department.short_name == "区应急局"
    assert demo.load_patrons(path=path).unchanged == 1


def test_campaigns_demo_is_called_after_the_hazards(monkeypatch):
    from civicgrid.apps.hazards import demo_campaigns

    calls = []
    monkeypatch.setattr(demo_campaigns, "load_demo_campaigns", lambda: calls.append(1) or {"x": {"filled_now": 3}})
    assert demo._campaigns_demo() == "检查表填报 3 份" and calls == [1]


def test_loader_runs_this_stage():
    from civicgrid.demo.loader import STAGE_LABELS, _app_stage

    assert STAGE_LABELS["hazards"] == "隐患台账" and callable(_app_stage("hazards"))
